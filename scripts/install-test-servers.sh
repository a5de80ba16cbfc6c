#!/usr/bin/env bash
# Resolves the real servers the integration tests start (Apache Kafka, Elasticsearch)
# from Maven Central into .cache/servers/ (ignored by git). Idempotent: a version
# already there is not fetched again. Needs Java 17 and Maven (mvn).
#   .cache/servers/kafka-<version>/            every jar of kafka_2.13 (kafka.Kafka runs from it)
#   .cache/servers/elasticsearch-<version>/    the unpacked distribution (bin/elasticsearch)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/.cache/servers"
pom="$root/test/servers/pom.xml"
# The versions the tests run: keep in step with test/support/test-servers.ts and docker-compose.yml.
KAFKA_VERSIONS="${KAFKA_VERSIONS:-3.8.0 4.1.1}"
ELASTICSEARCH_VERSIONS="${ELASTICSEARCH_VERSIONS:-8.15.0}"
mkdir -p "$cache"
for tool in java mvn; do
  command -v "$tool" >/dev/null 2>&1 || { echo "install-test-servers: $tool is missing (OpenJDK 17 and Maven are needed)" >&2; exit 1; }
done
mvn_quiet() { mvn -q -B -Dstyle.color=never -f "$pom" "$@"; }
for version in $KAFKA_VERSIONS; do
  dir="$cache/kafka-$version"
  [ -f "$dir/.complete" ] && continue
  echo "install-test-servers: resolving org.apache.kafka:kafka_2.13:$version" >&2
  rm -rf "$dir"
  mvn_quiet -Pkafka "-Dkafka.version=$version" dependency:copy-dependencies "-DoutputDirectory=$dir" -DincludeScope=runtime
  touch "$dir/.complete"
done
for version in $ELASTICSEARCH_VERSIONS; do
  dir="$cache/elasticsearch-$version"
  [ -f "$dir/.complete" ] && continue
  echo "install-test-servers: resolving org.elasticsearch.distribution.integ-test-zip:elasticsearch:$version" >&2
  rm -rf "$dir" "$dir.unpack"
  mvn_quiet -Pelasticsearch "-Delasticsearch.version=$version" dependency:unpack-dependencies "-DoutputDirectory=$dir.unpack" "-DmarkersDirectory=$dir.unpack/.markers"
  mv "$dir.unpack/elasticsearch-$version" "$dir"
  rm -rf "$dir.unpack"
  touch "$dir/.complete"
done
