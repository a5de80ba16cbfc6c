#!/usr/bin/env bash
# Builds a local stand-in for the `node:20-slim` base image the Dockerfile starts
# from, because no image registry is reachable from these machines (only Debian's
# packages and the npm registry are). Used by the image test (test/image) and the
# stack test through test/support/podman.ts; also by hand:
#   bash scripts/build-base-image.sh && podman build --pull=never --network host -t risk-engine .
#
# What it holds, laid out as the official image does:
#   - Debian bookworm, `debootstrap --variant=minbase`, from this machine's Debian mirror;
#   - this machine's Node 20 (/usr/local/bin/node), npm (/usr/local/lib/node_modules/npm)
#     and Node's C headers (/usr/local/include/node, with npm_config_nodedir pointing there:
#     node-gyp cannot download them here, and a native module such as better-sqlite3 is
#     compiled from source when its prebuilt binary cannot be downloaded);
#   - this machine's CA bundle, with NODE_EXTRA_CA_CERTS set to it: npm needs it to reach
#     the registry from inside a container;
#   - a `node` user and group (uid/gid 1000), as the Dockerfile's `USER node` expects.
#
# Idempotent: does nothing when the image exists (FORCE=1 rebuilds it). The debootstrap
# tree is cached under .cache/base-image (git ignores .cache/), so a rebuild takes seconds.
set -euo pipefail

IMAGE="${BASE_IMAGE:-docker.io/library/node:20-slim}"
root_dir="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root_dir/.cache/base-image"
rootfs="$cache/bookworm-minbase"
stage="$cache/stage"

if [ "${FORCE:-0}" != 1 ] && podman image exists "$IMAGE"; then
  echo "base image $IMAGE present" >&2
  exit 0
fi
for tool in podman debootstrap; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "$tool is missing: run scripts/install-system-deps.sh" >&2
    exit 1
  }
done

# This machine's Debian mirror, from its apt sources (deb822 or one-line format).
mirror="$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1 || true)"
[ -n "$mirror" ] || mirror="$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}' | grep -v security | head -n1 || true)"
mirror="${DEBIAN_MIRROR:-${mirror:-http://deb.debian.org/debian}}"

if [ ! -f "$rootfs/.complete" ]; then
  echo "debootstrap bookworm (minbase) from $mirror into $rootfs" >&2
  rm -rf "$rootfs"
  mkdir -p "$cache"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 || {
    tail -n 30 "$cache/debootstrap.log" >&2
    echo "debootstrap failed (full log: $cache/debootstrap.log)" >&2
    exit 1
  }
  # Package lists and caches are not part of a slim image; apt-get update fetches them.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  touch "$rootfs/.complete"
fi

node_bin="$(readlink -f "$(command -v node)")"
npm_dir="$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)"
[ "$("$node_bin" -p 'process.versions.node.split(".")[0]')" = 20 ] || {
  echo "this machine's node ($node_bin, $("$node_bin" -v)) is not Node 20" >&2
  exit 1
}
node_prefix="$(dirname "$(dirname "$node_bin")")"
headers="$node_prefix/include/node"
[ -f "$headers/node.h" ] || {
  echo "Node's headers are missing at $headers (native modules could not be compiled)" >&2
  exit 1
}
ca_bundle=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca_bundle" ] || {
  echo "no CA bundle at $ca_bundle" >&2
  exit 1
}

# Assemble in a copy, so the cached debootstrap tree stays pristine.
rm -rf "$stage"
cp -a "$rootfs" "$stage"
rm -f "$stage/.complete"
install -D -m 0755 "$node_bin" "$stage/usr/local/bin/node"
mkdir -p "$stage/usr/local/lib/node_modules" "$stage/usr/local/include"
cp -a "$npm_dir" "$stage/usr/local/lib/node_modules/npm"
cp -a "$headers" "$stage/usr/local/include/node"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$stage/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$stage/usr/local/bin/npx"
install -D -m 0644 "$ca_bundle" "$stage/etc/ssl/certs/ca-certificates.crt"
# The node user and group, written directly (no chroot needed).
grep -q '^node:' "$stage/etc/group" || echo 'node:x:1000:' >>"$stage/etc/group"
grep -q '^node:' "$stage/etc/passwd" || echo 'node:x:1000:1000::/home/node:/bin/bash' >>"$stage/etc/passwd"
grep -q '^node:' "$stage/etc/shadow" || echo 'node:*:19000:0:99999:7:::' >>"$stage/etc/shadow"
mkdir -p "$stage/home/node"
chown 1000:1000 "$stage/home/node"

started=$(date +%s)
tar -C "$stage" --numeric-owner -cf - . | podman import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV NODE_VERSION='"$("$node_bin" -p 'process.versions.node')" \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'ENV npm_config_nodedir=/usr/local' \
  --change 'CMD ["node"]' \
  --message "local stand-in for node:20-slim (debootstrap bookworm minbase + this machine's Node $("$node_bin" -v))" \
  - "$IMAGE" >/dev/null
rm -rf "$stage"
echo "base image $IMAGE built ($(($(date +%s) - started)) s to import)" >&2
