#!/usr/bin/env bash
# What the test suite drives besides Python packages: system packages, and the editor
# extensions' toolchains. Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(btrfs-progs pgbouncer chromium ripgrep rsync openssh-client openssh-server gdb build-essential pkg-config libkrb5-dev libsecret-1-dev
          libx11-dev libxkbfile-dev
          espeak-ng sox coturn nftables iproute2  # calls: test speech, its measurement, TURN, packet loss
          bubblewrap docker.io busybox-static  # agents: their sandboxes (bubblewrap; Docker, with a busybox test image)
          prometheus  # monitoring: a real Prometheus scrapes the platform and receives its remote-write
          xfsprogs acl  # workspaces: XFS reflink loop volumes for the file store; ACLs for the embedded engine's user
          bind9 bind9-dnsutils pebble varnish)  # domains, certificates, the edge's cache: BIND, Pebble, Varnish
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Real Yjs clients and the reference y-websocket server (tests/collab, benchmarks/collab.py).
if [[ ! -d tests/collab/node/node_modules/yjs ]] || [[ tests/collab/node/package-lock.json -nt tests/collab/node/node_modules/.package-lock.json ]]; then
  npm ci --prefix tests/collab/node --omit=optional --no-audit --no-fund --loglevel=error
fi

for script in extensions/scripts/install-test-deps.sh tests/platform/databases/setup.sh; do
  if [[ -f "$script" ]]; then
    bash "$script"
  fi
done

# A Docker engine for the agents' Docker sandbox (tests/agents/test_sandbox.py builds its image
# from busybox-static: no registry is reachable). Started once; it outlives this script.
if command -v dockerd >/dev/null && ! docker info >/dev/null 2>&1; then
  echo "starting dockerd (log: /var/tmp/dockerd.log)"
  nohup dockerd >/var/tmp/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start:"; tail -n 20 /var/tmp/dockerd.log; exit 1; }
fi
