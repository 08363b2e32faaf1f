#!/usr/bin/env bash
# Install code-server (a real VS Code 1.100.3 that runs headless) into a cache folder, offline-safe:
# only the npm registry is contacted. Idempotent: a finished install is left alone.
#
#   extensions/vscode/scripts/install-code-server.sh        # prints the code-server binary's path
#
# Why these flags (see shared/notes/vscode-e2e.md):
#  - 4.100.3 is the last code-server release that runs on Node 20;
#  - its nested @vscode/ripgrep postinstall downloads from GitHub unless its cache tarball exists,
#    so we seed that cache with Debian's /usr/bin/rg (apt package ripgrep);
#  - --unsafe-perm lets its postinstall run as root; npm_config_yes lets node-pty's `npx node-gyp`
#    run without a terminal.
set -euo pipefail

VERSION="${CODE_SERVER_VERSION:-4.100.3}"
CACHE="${CODEFORGE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/codeforge}"
PREFIX="$CACHE/code-server-$VERSION"
BIN="$PREFIX/node_modules/.bin/code-server"
STAMP="$PREFIX/.installed"

if [[ -f "$STAMP" && -x "$BIN" ]]; then
  echo "$BIN"
  exit 0
fi

if ! command -v rg >/dev/null; then
  echo "ripgrep is missing: run extensions/scripts/install-test-deps.sh (or apt-get install -y ripgrep)" >&2
  exit 1
fi

# Seed @vscode/ripgrep's download cache with the system rg (single tar member named `rg`).
TMP="${TMPDIR:-/tmp}"
RG_CACHE="$TMP/vscode-ripgrep-cache-1.15.11"
RG_TAR="$RG_CACHE/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"
if [[ ! -f "$RG_TAR" ]]; then
  mkdir -p "$RG_CACHE"
  work="$(mktemp -d)"
  cp "$(command -v rg)" "$work/rg"
  tar -C "$work" -czf "$RG_TAR" rg
  rm -rf "$work"
fi

mkdir -p "$PREFIX"
cd "$PREFIX"
[[ -f package.json ]] || echo '{"name":"codeforge-code-server","private":true}' > package.json
npm_config_yes=true npm install --no-audit --no-fund --unsafe-perm --foreground-scripts \
  "code-server@$VERSION" >&2
# Its own config/data go to the cache folder, not the home folder.
XDG_CONFIG_HOME="$PREFIX/.xdg" XDG_DATA_HOME="$PREFIX/.xdg" "$BIN" --version >&2
touch "$STAMP"
echo "$BIN"
