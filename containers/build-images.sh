#!/usr/bin/env bash
# Builds the four data-plane images (containers/Dockerfile, targets haproxy nginx squid strongswan) with podman,
# without any container registry:
#   1. the Dockerfile's FROM (node:<pinned>-bookworm-slim) is made locally: `mmdebstrap --variant=minbase
#      bookworm` plus the Node.js binary the project pins (node_modules/node) and npm for the build stage, and
#      tagged with that name; the Debian tarball is cached in $PROXY_FLEET_IMAGE_CACHE, the image in podman;
#   2. podman build --pull=never --format docker (the OCI format drops HEALTHCHECK) --network=host, runc (crun
#      fails on this kernel: "cgroups in hybrid mode"); the host's CA bundle is a build secret, so RUN steps
#      that fetch packages trust the same TLS-inspecting path the host does, and nothing of it stays;
#   3. each image is checked (health check present, no npm, no CA secret left) and its size printed.
# Usage: containers/build-images.sh [kind…]     (default: all four). Needs root.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

if [ $# -gt 0 ]; then KINDS=("$@"); else KINDS=(haproxy nginx squid strongswan); fi
CACHE="${PROXY_FLEET_IMAGE_CACHE:-/var/cache/proxy-fleet-images}"
HOST_CA=/etc/ssl/certs/ca-certificates.crt
PODMAN=(podman --runtime runc)
SIZE_GOAL_MB=250
# podman needs explicit limits here (its defaults exceed what this machine allows a process); never more than
# the hard limits of this shell, or runc cannot set them ("error setting rlimit").
NOFILE="$(ulimit -Hn)"; [ "$NOFILE" = unlimited ] || [ "$NOFILE" -gt 65535 ] && NOFILE=65535
NPROC=4096
ULIMITS=(--ulimit "nofile=$NOFILE:$NOFILE" --ulimit "nproc=$NPROC:$NPROC")
# The periodic health check timer needs systemd; `podman healthcheck run` works without it.
RUN_OPTIONS=(--rm --network=none "${ULIMITS[@]}" --health-interval disable)

log() { printf 'build-images: %s\n' "$*" >&2; }

ensure_tools() {
  local missing=()
  # catatonit: podman's --init (the tests run the images as ECS does, with an init).
  for tool in podman:podman runc:runc mmdebstrap:mmdebstrap strip:binutils catatonit:catatonit; do
    command -v "${tool%%:*}" >/dev/null || missing+=("${tool##*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]}"
  # Keep package scripts from starting system daemons.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The Node.js version package-lock.json pins, which the Dockerfile's NODE_IMAGE must name.
node_version() {
  node_modules/.bin/node -e 'console.log(JSON.parse(require("fs").readFileSync("package-lock.json","utf8")).packages["node_modules/node"].version)'
}

build_base() {
  local image="$1" version="$2" tarball="$CACHE/bookworm-minbase.tar" root
  if "${PODMAN[@]}" image exists "$image"; then
    log "base $image: cached"
    return
  fi
  mkdir -p "$CACHE"
  if [ ! -s "$tarball" ]; then
    log "base: mmdebstrap --variant=minbase bookworm"
    mmdebstrap --variant=minbase --format=tar --quiet \
      --aptopt='Acquire::Check-Valid-Until "false"' \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
      --customize-hook='chroot "$1" apt-get purge -y -qq perl perl-modules-5.36 libperl5.36 >/dev/null || true' \
      --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
      bookworm "$tarball.partial"
    mv "$tarball.partial" "$tarball"
  fi
  local node_binary=node_modules/node/bin/node
  [ "$("$node_binary" --version)" = "v$version" ] || { log "node_modules/node is not v$version: run npm ci"; exit 1; }
  local npm_dir; npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
  root="$(mktemp -d)"
  trap 'rm -rf "$root"' RETURN
  tar -C "$root" -xf "$tarball"
  mkdir -p "$root/usr/local/bin" "$root/usr/local/lib/node_modules"
  strip -o "$root/usr/local/bin/node" "$node_binary"
  # npm only for the build's dependency stage; the images themselves carry none.
  cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  log "base: importing as $image"
  tar -C "$root" -c . | "${PODMAN[@]}" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$version" --change 'CMD ["node"]' - "$image" >/dev/null
}

build_kind() {
  local kind="$1" node_image="$2"
  log "image proxy-fleet/$kind"
  "${PODMAN[@]}" build --pull=never --format docker --network=host --platform linux/amd64 \
    "${ULIMITS[@]}" \
    --secret "id=host-ca,src=$HOST_CA" --build-arg "NODE_IMAGE=$node_image" \
    -f containers/Dockerfile --target "$kind" -t "localhost/proxy-fleet/$kind:latest" . >&2
}

verify_kind() {
  local kind="$1" image="localhost/proxy-fleet/$kind:latest" health size
  health="$("${PODMAN[@]}" image inspect --format '{{json .Config.Healthcheck}}' "$image")"
  [[ "$health" == *proxy-fleet-healthcheck* ]] || { log "$image has no HEALTHCHECK: $health"; return 1; }
  "${PODMAN[@]}" run "${RUN_OPTIONS[@]}" --entrypoint /bin/sh "$image" -c \
    'test -x /usr/local/bin/proxy-fleet-healthcheck && ! command -v npm && ! test -s /run/secrets/host-ca && node --version' >/dev/null \
    || { log "$image: npm present, health check missing or the CA secret left behind"; return 1; }
  # No certificate of the host's bundle may be in the image: look for one that is not a public root.
  if [ -n "${CA_PROBE:-}" ] && "${PODMAN[@]}" run "${RUN_OPTIONS[@]}" \
      --entrypoint /bin/sh "$image" -c "grep -rlF -- '$CA_PROBE' /etc /opt /usr/local /root /tmp /run 2>/dev/null" >/dev/null; then
    log "$image contains the host's CA certificate"
    return 1
  fi
  size="$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$image")"
  size=$((size / 1000000))
  printf 'image %-34s %4d MB%s\n' "$image" "$size" "$([ "$size" -le "$SIZE_GOAL_MB" ] || echo " (over the ${SIZE_GOAL_MB} MB goal)")"
}

ensure_tools
version="$(node_version)"
grep -q "^ARG NODE_IMAGE=node:$version-bookworm-slim\$" containers/Dockerfile \
  || { log "containers/Dockerfile's NODE_IMAGE does not name node:$version-bookworm-slim (package-lock.json)"; exit 1; }
node_image="docker.io/library/node:$version-bookworm-slim"
# A line from the middle of a certificate the host adds to Debian's bundle (a TLS-inspecting proxy's CA).
CA_PROBE="$(for f in /usr/local/share/ca-certificates/*.crt; do [ -f "$f" ] && sed -n 5p "$f" && break; done || true)"
started=$SECONDS
build_base "$node_image" "$version"
for kind in "${KINDS[@]}"; do build_kind "$kind" "$node_image"; done
status=0
for kind in "${KINDS[@]}"; do verify_kind "$kind" || status=1; done
log "built ${KINDS[*]} in $((SECONDS - started)) s"
exit "$status"
