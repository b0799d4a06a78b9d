# Modiste developer commands. `just` comes from PyPI: pip install rust-just
# Every recipe runs from this directory, with the project's own .venv.

set positional-arguments
set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"
bin := venv / "bin"

# List the recipes
default:
    @just --list

# Create .venv and pip install -e '.[test,dev,export]' (a no-op while pyproject.toml is unchanged)
bootstrap:
    #!/usr/bin/env bash
    set -euo pipefail
    stamp="{{ venv }}/.modiste-install-hash"
    want="$(python3 -c 'import hashlib, sys; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest(), sys.version_info[:2])')"
    if [[ ! -x "{{ bin }}/python" ]]; then
        echo "bootstrap: creating {{ venv }}" >&2
        python3 -m venv "{{ venv }}"
    fi
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        exit 0
    fi
    echo "bootstrap: installing modiste with its test, dev and export extras (export = torch for the tiny test models) into {{ venv }} (pip)" >&2
    "{{ bin }}/python" -m pip install --quiet --disable-pip-version-check -e '.[test,dev,export]' >&2
    echo "$want" > "$stamp"

# Run the whole system locally (PostgreSQL, NATS and the API; data under .modiste/)
up: bootstrap
    exec {{ bin }}/modiste up

# Run the test suite (pytest); extra arguments go to pytest, e.g. `just test -k orders -x`
test *args: bootstrap
    {{ bin }}/python -m pytest "$@"

# ruff (lint and format check) and mypy (strict)
lint: bootstrap
    {{ bin }}/ruff check .
    {{ bin }}/ruff format --check .
    {{ bin }}/mypy

# Run every benchmark script in tests/bench (not part of `just test`)
bench: bootstrap
    #!/usr/bin/env bash
    set -euo pipefail
    for script in tests/bench/bench_*.py; do
        echo "== $script" >&2
        "{{ bin }}/python" "$script"
    done

# Print a JWT for local use, e.g. TOKEN=$(just token merchant m-1)
token role sub: bootstrap
    @{{ bin }}/modiste token --role "$1" --sub "$2"
