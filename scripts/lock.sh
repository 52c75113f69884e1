#!/usr/bin/env bash
# Rewrite constraints.txt with the newest versions pyproject.toml allows, resolved in a
# throwaway virtualenv. Run `make test` afterwards and commit both only if it passes.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
"$PYTHON" -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q -e '.[test,demo]'
{
    sed -n '/^#/p' constraints.txt
    "$venv/bin/pip" freeze --exclude-editable | grep -v '^#'
} > constraints.txt.new
mv constraints.txt.new constraints.txt
echo "lock: constraints.txt rewritten; now run make test"
