#!/usr/bin/env bash
# Installs the shell completion of the `commerce` tool for the current user (docs/operations.md,
# "Shell completion"):
#
#   scripts/install-completion.sh [bash|zsh|fish]      # default: the shell of $SHELL
#
# The script is what swift-argument-parser generates (`commerce --generate-completion-script
# SHELL`), written where each shell looks for completions without editing its start-up files:
#   bash  ${XDG_DATA_HOME:-~/.local/share}/bash-completion/completions/commerce  (bash-completion loads it on demand)
#   zsh   ${ZDOTDIR:-~}/.zsh/completions/_commerce  (add that directory to fpath before compinit: printed below)
#   fish  ${XDG_CONFIG_HOME:-~/.config}/fish/completions/commerce.fish
# The commerce binary is $COMMERCE, else the one on PATH, else .build/release or .build/debug.
# Run it again after an upgrade: the script changes with the commands. Exit 64 on a bad argument.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shell=${1:-$(basename "${SHELL:-bash}")}

commerce=${COMMERCE:-}
if [ -z "$commerce" ]; then
  commerce=$(command -v commerce || true)
fi
for candidate in "$root/.build/release/commerce" "$root/.build/debug/commerce"; do
  if [ -z "$commerce" ] && [ -x "$candidate" ]; then commerce=$candidate; fi
done
if [ -z "$commerce" ] || [ ! -x "$commerce" ]; then
  echo "install-completion.sh: no commerce binary: build it (swift build -c release --product commerce) or set COMMERCE" >&2
  exit 1
fi

case "$shell" in
  bash) target="${XDG_DATA_HOME:-$HOME/.local/share}/bash-completion/completions/commerce" ;;
  zsh) target="${ZDOTDIR:-$HOME}/.zsh/completions/_commerce" ;;
  fish) target="${XDG_CONFIG_HOME:-$HOME/.config}/fish/completions/commerce.fish" ;;
  *)
    echo "usage: scripts/install-completion.sh [bash|zsh|fish] (got '$shell')" >&2
    exit 64
    ;;
esac

mkdir -p "$(dirname "$target")"
# Written to a temporary file first, so a failed generation never leaves half a script behind.
"$commerce" --generate-completion-script "$shell" >"$target.tmp"
mv "$target.tmp" "$target"
echo "installed the $shell completion of $commerce in $target"
case "$shell" in
  bash) echo "open a new shell (bash-completion loads it on demand)" ;;
  zsh) echo "add to ~/.zshrc, before compinit: fpath=(${target%/*} \$fpath)" ;;
  fish) echo "open a new shell" ;;
esac
