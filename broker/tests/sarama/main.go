// Command sarama-check drives the broker with Go's sarama client (the Debian package,
// golang-github-shopify-sarama-dev 1.22): it creates a topic with ClusterAdmin, produces N
// keyed messages with a SyncProducer (acks=all), consumes them back through a ConsumerGroup
// that marks and commits offsets, and checks the group's committed offsets with
// ClusterAdmin.ListConsumerGroupOffsets. Prints "sarama: OK produced N consumed N" and exits 0,
// or prints what went wrong and exits 1.
//
// Built in GOPATH mode against Debian's gocode tree:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o sarama-check ./broker/tests/sarama
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

const partitions = 3

func fail(format string, args ...interface{}) {
	fmt.Printf("sarama: FAIL "+format+"\n", args...)
	os.Exit(1)
}

// handler records every value it sees, marks each message, and cancels the session once all
// expected values have arrived.
type handler struct {
	mu       sync.Mutex
	seen     map[string]int
	expected int
	done     func()
}

func (h *handler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *handler) ConsumeClaim(session sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		session.MarkMessage(msg, "")
		h.mu.Lock()
		h.seen[string(msg.Value)]++
		complete := len(h.seen) >= h.expected
		h.mu.Unlock()
		if complete {
			h.done()
		}
	}
	return nil
}

func parseVersion(s string) sarama.KafkaVersion {
	if s == "" {
		return sarama.MaxVersion
	}
	v, err := sarama.ParseKafkaVersion(s)
	if err != nil {
		fail("bad -version %q: %v", s, err)
	}
	return v
}

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "bootstrap brokers, comma-separated")
	topic := flag.String("topic", "sarama-check", "topic to create, produce to and consume from")
	group := flag.String("group", "sarama-check-group", "consumer group id")
	n := flag.Int("n", 100, "number of messages")
	version := flag.String("version", "", "Kafka protocol version sarama assumes (default: newest it knows)")
	timeout := flag.Duration("timeout", 60*time.Second, "give up after this long")
	verbose := flag.Bool("v", false, "log sarama's internal messages to stderr")
	retention := flag.Duration("offsets-retention", 0, "Consumer.Offsets.Retention; 0 (sarama's default) commits with OffsetCommit v1, non-zero with v2")
	flag.Parse()

	if *verbose {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.LstdFlags|log.Lmicroseconds)
	}
	// Some sarama calls block without a context; never hang the caller.
	time.AfterFunc(*timeout, func() { fail("timed out after %v", *timeout) })

	addrs := strings.Split(*brokers, ",")
	config := sarama.NewConfig()
	config.ClientID = "sarama-check"
	config.Version = parseVersion(*version)
	config.Producer.RequiredAcks = sarama.WaitForAll
	config.Producer.Return.Successes = true
	config.Producer.Partitioner = sarama.NewHashPartitioner
	config.Consumer.Offsets.Initial = sarama.OffsetOldest
	config.Consumer.Offsets.CommitInterval = 200 * time.Millisecond
	config.Consumer.Offsets.Retention = *retention
	config.Consumer.Return.Errors = true
	config.Metadata.Retry.Backoff = 100 * time.Millisecond

	// 1. Create the topic.
	admin, err := sarama.NewClusterAdmin(addrs, config)
	if err != nil {
		fail("cluster admin: %v", err)
	}
	defer admin.Close()
	err = admin.CreateTopic(*topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false)
	if err != nil {
		fail("create topic %s: %v", *topic, err)
	}

	// 2. Produce N messages with spread keys.
	producer, err := sarama.NewSyncProducer(addrs, config)
	if err != nil {
		fail("producer: %v", err)
	}
	produced := make(map[string]bool, *n)
	perPartition := make(map[int32]int)
	for i := 0; i < *n; i++ {
		value := fmt.Sprintf("value-%d", i)
		partition, _, err := producer.SendMessage(&sarama.ProducerMessage{
			Topic: *topic,
			Key:   sarama.StringEncoder(fmt.Sprintf("key-%d", i)),
			Value: sarama.StringEncoder(value),
		})
		if err != nil {
			fail("produce message %d: %v", i, err)
		}
		produced[value] = true
		perPartition[partition]++
	}
	if err := producer.Close(); err != nil {
		fail("closing producer: %v", err)
	}
	if *n >= 2*partitions && len(perPartition) < 2 {
		fail("keys were not spread over partitions: %v", perPartition)
	}

	// 3. Consume them back through a consumer group.
	consumer, err := sarama.NewConsumerGroup(addrs, *group, config)
	if err != nil {
		fail("consumer group: %v", err)
	}
	go func() {
		for err := range consumer.Errors() {
			fmt.Fprintf(os.Stderr, "sarama: consumer group error: %v\n", err)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	h := &handler{seen: make(map[string]int), expected: *n, done: cancel}
	for ctx.Err() == nil {
		// Consume returns at every rebalance; join again until everything has arrived.
		if err := consumer.Consume(ctx, []string{*topic}, h); err != nil {
			fail("consume: %v", err)
		}
	}
	// Consume commits the marked offsets when its session ends; Close leaves the group.
	if err := consumer.Close(); err != nil {
		fail("closing consumer group: %v", err)
	}
	for value := range produced {
		if h.seen[value] == 0 {
			fail("value %q was produced but never consumed", value)
		}
	}
	for value := range h.seen {
		if !produced[value] {
			fail("consumed %q, which was never produced", value)
		}
	}

	// 4. The group's committed offsets must account for every message.
	ids := make([]int32, partitions)
	for p := range ids {
		ids[p] = int32(p)
	}
	offsets, err := admin.ListConsumerGroupOffsets(*group, map[string][]int32{*topic: ids})
	if err != nil {
		fail("list consumer group offsets: %v", err)
	}
	var sum int64
	for _, p := range ids {
		block := offsets.GetBlock(*topic, p)
		if block == nil {
			fail("no committed offset for %s/%d", *topic, p)
		}
		if block.Err != sarama.ErrNoError {
			fail("committed offset for %s/%d: %v", *topic, p, block.Err)
		}
		if block.Offset != int64(perPartition[p]) {
			fail("committed offset for %s/%d is %d, produced %d there", *topic, p, block.Offset, perPartition[p])
		}
		sum += block.Offset
	}
	if sum != int64(*n) {
		fail("committed offsets sum to %d, want %d", sum, *n)
	}

	fmt.Printf("sarama: OK produced %d consumed %d\n", len(produced), len(h.seen))
}
