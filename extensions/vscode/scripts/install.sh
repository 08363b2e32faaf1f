#!/usr/bin/env bash
# Build the CodeForge VS Code extension from this checkout and install it into VS Code and/or
# code-server: the one command a fresh clone needs (`make vscode` runs it).
#
#   extensions/vscode/scripts/install.sh                      # every editor CLI found on PATH
#   extensions/vscode/scripts/install.sh --editor code-server # one editor (a name or a path)
#   extensions/vscode/scripts/install.sh --editor /opt/code-server/bin/code-server -- --extensions-dir /x
#       (arguments after -- go to the editor's --install-extension call)
#
# The extension is told where this checkout's `codeforge` is (.venv/bin/codeforge, as `make up`
# makes it), so it starts the language server with no setting; a workspace's own .venv, PATH
# and the `codeforge.server.command` setting still come first. Needs Node.js 20+ and npm; only
# the npm registry is contacted (npm ci, from package-lock.json).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VSCODE="$(cd "$HERE/.." && pwd)"
ROOT="$(cd "$VSCODE/../.." && pwd)"
VSIX="$VSCODE/codeforge.vsix"

editors=()
extra=()
while (($# > 0)); do
  case "$1" in
    --editor)
      editors+=("${2:?--editor needs a name or a path, e.g. code or code-server}")
      shift 2
      ;;
    --)
      shift
      extra=("$@")
      break
      ;;
    -h | --help)
      sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "install.sh: unknown argument $1 (see --help)" >&2
      exit 2
      ;;
  esac
done

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "install.sh: $tool is missing: install Node.js 20 or later (with npm), then run this again" >&2
    exit 1
  fi
done
if (($(node -p 'process.versions.node.split(".")[0]') < 20)); then
  echo "install.sh: Node.js $(node --version) is too old: the build needs Node.js 20 or later" >&2
  exit 1
fi

# The language server this checkout provides, baked into the bundle (esbuild.mjs).
installed=""
if [[ -x "$ROOT/.venv/bin/codeforge" ]]; then
  installed="$ROOT/.venv/bin/codeforge"
elif command -v codeforge >/dev/null; then
  installed="$(command -v codeforge)"
else
  echo "install.sh: note: no .venv/bin/codeforge in $ROOT yet (run \`make install\` or \`make up\`);" \
    "the extension will look in the workspace's .venv and on PATH" >&2
fi

cd "$VSCODE"
if [[ ! "$VSCODE/node_modules/.package-lock.json" -nt "$VSCODE/package-lock.json" ]]; then
  npm ci --no-audit --no-fund >&2
fi
rm -f "$VSIX"
CODEFORGE_INSTALLED_COMMAND="$installed" npm run --silent package >&2
[[ -f "$VSIX" ]] || {
  echo "install.sh: packaging did not write $VSIX" >&2
  exit 1
}

if ((${#editors[@]} == 0)); then
  for candidate in code code-insiders codium code-server; do
    if command -v "$candidate" >/dev/null; then
      editors+=("$candidate")
    fi
  done
fi
if ((${#editors[@]} == 0)); then
  cat >&2 <<EOF
install.sh: built $VSIX, but found no editor command on PATH (code, code-insiders, codium,
code-server). Install it from the editor instead: Extensions view → ⋯ → "Install from VSIX…" →
$VSIX, or run this again with --editor /path/to/code (or code-server).
EOF
  exit 1
fi

for editor in "${editors[@]}"; do
  if ! command -v "$editor" >/dev/null && [[ ! -x "$editor" ]]; then
    echo "install.sh: $editor is not an editor command on PATH or an executable file" >&2
    exit 1
  fi
  echo "installing $VSIX into $editor" >&2
  "$editor" "${extra[@]}" --install-extension "$VSIX" --force >&2
done
echo "CodeForge extension installed${installed:+ (language server: $installed)}; reload the editor window to use it."
