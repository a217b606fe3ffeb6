#!/usr/bin/env bash
# Runs every ```sh block of README.md as written, in order, from the repository root, as a new user
# would after `make run` (`make readme-check`; CI runs it after `make run`). The bare `make run` and
# `make test` lines are skipped: they are what CI itself runs. A block that fails fails the check,
# naming the block and its first line.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -x .build/release/carcinoma ]] || { echo "check-readme: run \`make run\` first (no .build/release/carcinoma)" >&2; exit 1; }
script=$(mktemp)
trap 'rm -f "$script"' EXIT
awk '
    /^```sh[[:space:]]*$/ { inside = 1; block++; first = ""; print "echo \"== README.md block " block "\" >&2"; next }
    /^```/ && inside       { inside = 0; next }
    inside && /^make (run|test)[[:space:]]*(#.*)?$/ { next }
    inside                 { print }
' README.md > "$script"
blocks=$(grep -c '^```sh' README.md || true)
echo "check-readme: running $blocks sh blocks of README.md" >&2
bash -euo pipefail -x "$script"
echo "check-readme: every sh block of README.md ran" >&2
