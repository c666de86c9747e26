#!/bin/sh
# Build the notebook image the Swarm tests spawn, without a registry: a debootstrap minbase
# rootfs plus Debian's jupyterhub (which provides jupyterhub-singleuser), imported with
# `docker import`. Built once and reused by tag; the rootfs tarball is cached outside the repo so a
# wiped Docker data root rebuilds in seconds instead of minutes.
#
#   scripts/build-test-image.sh [TAG]      (default atrium-test-notebook:1)
#   ATRIUM_IMAGE_CACHE=/var/cache/atrium-test   cache directory
#   ATRIUM_IMAGE_REBUILD=1                      ignore the tag and the cached tarball
set -eu

TAG="${1:-atrium-test-notebook:1}"
CACHE="${ATRIUM_IMAGE_CACHE:-/var/cache/atrium-test}"
# The name of the tarball carries the tag, so bumping the tag invalidates the cache.
TARBALL="$CACHE/$(printf '%s' "$TAG" | tr '/:' '__').tar"
# Same mirror as the host's apt sources (the only package registry these machines reach).
MIRROR="${ATRIUM_DEBIAN_MIRROR:-$(grep -hoE 'https?://deb\.debian\.org/debian/?' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | head -n1)}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"

if [ -z "${ATRIUM_IMAGE_REBUILD:-}" ] && docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "build-test-image: $TAG already exists, reusing it"
  exit 0
fi

mkdir -p "$CACHE"
chmod 0755 "$CACHE"

if [ -n "${ATRIUM_IMAGE_REBUILD:-}" ] || [ ! -s "$TARBALL" ]; then
  ROOT="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
  # Unmount what we mounted in the chroot even when a step fails.
  cleanup() {
    umount "$ROOT/proc" 2>/dev/null || true
    rm -rf "$ROOT"
  }
  trap cleanup EXIT INT TERM
  start=$(date +%s)
  debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR"
  mount -t proc proc "$ROOT/proc"
  # --no-install-recommends keeps the image small: jupyterhub recommends nodejs and the CHP.
  chroot "$ROOT" /bin/sh -c '
    set -e
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends python3 jupyterhub python3-notebook python3-ipykernel
    apt-get clean
    rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /usr/share/locale/* /var/cache/debconf/*-old
  '
  umount "$ROOT/proc"
  # Every site image runs the server as a non-root user; the uid is overridden per spawn.
  chroot "$ROOT" /usr/sbin/useradd -m -u 1000 -s /bin/bash jovyan || true
  tar -C "$ROOT" -cf "$TARBALL.tmp" .
  mv "$TARBALL.tmp" "$TARBALL"
  echo "build-test-image: rootfs built in $(( $(date +%s) - start )) s -> $TARBALL"
fi

docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'WORKDIR /tmp' \
  --change 'CMD ["jupyterhub-singleuser"]' \
  "$TARBALL" "$TAG"
echo "build-test-image: imported $TAG"
