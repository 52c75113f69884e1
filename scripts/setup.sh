#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine: system packages (when root), the virtualenv and
# the project's packages. `make demo` and `make test` call this first; a second run does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

# `scripts/setup.sh --screenshots` also installs the browser for scripts/screenshots.py.
EXTRA=()
[ "${1:-}" = "--screenshots" ] && EXTRA=(chromium fonts-wqy-zenhei)

# postgresql: Prefect's database in production; tests/test_server.py runs a cluster of its own
# (initdb/pg_ctl in a temp dir), so the packaged service is kept from starting, like dovecot's.
SYSTEM_PACKAGES=(dovecot-imapd libreoffice-calc-nogui libreoffice-writer-nogui poppler-utils fonts-noto-cjk postgresql)

missing=()
for pkg in "${SYSTEM_PACKAGES[@]}" "${EXTRA[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "setup: installing ${missing[*]}"
        # Keep the packaged services (dovecot on port 143, postgresql on 5432) from starting:
        # tests run their own.
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
            chmod +x /usr/sbin/policy-rc.d
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "setup: not root, cannot install ${missing[*]}; tests that need them are skipped" >&2
    fi
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.nianbao-installed
digest=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    .venv/bin/pip install -q --upgrade pip
    # constraints.txt: the versions the suite last passed with (`make lock` refreshes them).
    .venv/bin/pip install -q -c constraints.txt -e '.[test,demo]'
    echo "$digest" > "$stamp"
fi
