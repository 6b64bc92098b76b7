#!/usr/bin/env bash
# Fetch the pinned Apache Kafka broker jars from Maven Central into
# .cache/kafka-<version>/libs (idempotent; a second run is a no-op).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
pom="$here/pipai/broker_files/pom.xml"
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")
dest="${PIPAI_KAFKA_HOME:-$here/.cache/kafka-$version}"
if [ -f "$dest/.complete" ]; then
  echo "$dest"
  exit 0
fi
rm -rf "$dest.tmp"
mkdir -p "$dest.tmp"
mvn -q -B -f "$pom" dependency:copy-dependencies \
  -DoutputDirectory="$dest.tmp/libs" -DincludeScope=runtime >&2
rm -rf "$dest"
mv "$dest.tmp" "$dest"
touch "$dest/.complete"
echo "$dest"
