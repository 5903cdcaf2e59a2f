"""Starts the real kafka-lab-broker binary for each test, on a free port with its own data dir."""

import base64
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _broker_binary() -> str:
    explicit = os.environ.get("KAFKA_LAB_BROKER_BIN")
    if explicit:
        return explicit
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    for profile in ("debug", "release"):
        candidate = target / profile / "kafka-lab-broker"
        if candidate.exists():
            return str(candidate)
    raise RuntimeError("kafka-lab-broker is not built: run `cargo build -p kafka-lab-broker` first")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A running broker process; `bootstrap` is what clients connect to. With `sasl`, a
    SASL_PLAINTEXT listener on `sasl_bootstrap` joins the PLAINTEXT one."""

    def __init__(self, tmp: Path, overrides: list[str], sasl: bool = False, extra_listeners: str = ""):
        self.port = _free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.sasl_bootstrap = f"127.0.0.1:{_free_port()}" if sasl else None
        self.log_path = tmp / "broker.log"
        listeners = f"PLAINTEXT://127.0.0.1:{self.port}"
        if sasl:
            listeners += f",SASL_PLAINTEXT://{self.sasl_bootstrap}"
        if extra_listeners:
            listeners += f",{extra_listeners}"
        self._args = [
            _broker_binary(),
            "--override", f"listeners={listeners}",
            "--override", f"log.dirs={tmp / 'data'}",
            "--override", "group.initial.rebalance.delay.ms=0",
        ]
        for o in overrides:
            self._args += ["--override", o]
        self._start()

    def _start(self):
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self._args, stdout=self._log, stderr=self._log)
        deadline = time.time() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"broker exited: {self.log_path.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("broker did not start listening within 30 s")
                time.sleep(0.02)

    def restart(self):
        """Stops the broker and starts it again on the same ports and data."""
        self.stop()
        self._start()

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)
        self._log.close()

    def kill9(self):
        """`kill -9`: no chance to flush or clean up."""
        self.process.kill()
        self.process.wait(timeout=20)
        self._log.close()

    def start_again(self):
        """Starts a killed or stopped broker again on the same ports and data."""
        assert self.process.poll() is not None, "the broker is still running"
        self._start()


class Cluster:
    """Three nodes as tests/support/cluster.rs starts them: node 1 broker and the metadata
    quorum's one controller (on its own CONTROLLER listener), nodes 2 and 3 brokers only;
    1.5 s broker sessions, so a killed broker is fenced and its leaderships move quickly."""

    CONTROLLER = 1

    def __init__(self, tmp: Path):
        controller = f"127.0.0.1:{_free_port()}"
        cluster_id = base64.urlsafe_b64encode(bytes([9] * 16)).rstrip(b"=").decode()
        common = [
            f"controller.quorum.voters=1@{controller}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"cluster.id={cluster_id}",
            "broker.heartbeat.interval.ms=250",
            "broker.session.timeout.ms=1500",
            "replica.lag.time.max.ms=3000",
            "replica.fetch.wait.max.ms=100",
            "replica.fetch.backoff.ms=200",
        ]
        self.nodes = {}
        for node_id in (1, 2, 3):
            roles = "broker,controller" if node_id == self.CONTROLLER else "broker"
            node_dir = tmp / f"node-{node_id}"
            node_dir.mkdir()
            extra = f"CONTROLLER://{controller}" if node_id == self.CONTROLLER else ""
            overrides = [f"node.id={node_id}", f"process.roles={roles}", *common]
            self.nodes[node_id] = Broker(node_dir, overrides, extra_listeners=extra)
        self.bootstrap = ",".join(n.bootstrap for n in self.nodes.values())
        # Topics are placed on registered brokers only: wait for all three.
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.nodes[self.CONTROLLER].bootstrap})
        deadline = time.time() + 20
        while sorted(admin.list_topics(timeout=5).brokers) != [1, 2, 3]:
            assert time.time() < deadline, "three brokers registered"
            time.sleep(0.1)

    def stop(self):
        for node in self.nodes.values():
            if node.process.poll() is None:
                node.stop()


def _serve(tmp_path, request, sasl):
    b = Broker(tmp_path, getattr(request, "param", []), sasl=sasl)
    yield b
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        print(b.log_path.read_text()[-5000:])
    b.stop()


@pytest.fixture
def broker(tmp_path, request):
    """A broker with a PLAINTEXT listener; `param` is a list of `--override`s."""
    yield from _serve(tmp_path, request, sasl=False)


@pytest.fixture
def sasl_broker(tmp_path, request):
    """A broker with a SASL_PLAINTEXT listener (named SASL_PLAINTEXT) too; PLAIN users come
    from a `listener.name.sasl_plaintext.plain.sasl.jaas.config` override, SCRAM users from
    the admin APIs."""
    yield from _serve(tmp_path, request, sasl=True)


@pytest.fixture
def cluster(tmp_path, request):
    """A three-node cluster (see `Cluster`)."""
    c = Cluster(tmp_path)
    yield c
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        for node_id, node in c.nodes.items():
            print(f"---- node {node_id} ----")
            print(node.log_path.read_text()[-3000:])
    c.stop()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
