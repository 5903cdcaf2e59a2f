#!/bin/sh
# Puts the pinned JMX Prometheus exporter agent into the jmx-agent volume, from Maven Central,
# checked against its SHA-256; does nothing when the volume already holds it.
set -eu
: "${JMX_EXPORTER_VERSION:?}" "${JMX_EXPORTER_SHA256:?}"
jar=/opt/jmx-exporter/jmx_prometheus_javaagent.jar
if [ -f "$jar" ] && echo "$JMX_EXPORTER_SHA256  $jar" | busybox sha256sum -c -s -; then
  echo "kept $jar ($JMX_EXPORTER_VERSION)"
  exit 0
fi
url="https://repo1.maven.org/maven2/io/prometheus/jmx/jmx_prometheus_javaagent/$JMX_EXPORTER_VERSION/jmx_prometheus_javaagent-$JMX_EXPORTER_VERSION.jar"
busybox wget -q -O "$jar.part" "$url"
if ! echo "$JMX_EXPORTER_SHA256  $jar.part" | busybox sha256sum -c -s -; then
  echo "the jar at $url does not have SHA-256 $JMX_EXPORTER_SHA256" >&2
  rm -f "$jar.part"
  exit 1
fi
chmod 0644 "$jar.part"
mv "$jar.part" "$jar"
echo "fetched $url"
