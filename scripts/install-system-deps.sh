#!/usr/bin/env bash
# Installs, from Debian's packages, what the integration tests need when it is
# missing: redis-server (state layer and rule store tests), kcat (an independent Kafka client) and
# docker-compose (validates docker-compose.yml), podman, runc and debootstrap (the image
# test), curl (docs/analysts.md's examples), then the Maven-resolved Kafka and Elasticsearch. Idempotent; a no-op when all
# are present.
set -euo pipefail
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
# The image test: podman with runc (crun fails on this cgroup layout) and debootstrap
# for the local stand-in base image (no registry is reachable).
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
# The analysts' walk-through (test/docs/analysts.test.ts) runs its curl examples as written.
command -v curl >/dev/null 2>&1 || missing+=(curl)
# Elasticsearch refuses to run as root: the harness drops to nobody with setpriv (util-linux).
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
echo "installing test dependencies from Debian: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "not root and no sudo: install them yourself: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The real servers (Kafka, Elasticsearch) from Maven Central.
bash "$(dirname "$0")/install-test-servers.sh"
