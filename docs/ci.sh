#!/usr/bin/env bash
# Documentation CI: build the site strictly, then load every page in headless Chromium.
#
#   bash docs/ci.sh
#
# Python: $PYTHON if set, else .venv/bin/python (the environment README's test command creates),
# else python3. Installs what is missing: the docs extra and Playwright (pip), Debian's chromium
# and npm (apt-get). The build installs KaTeX from the npm registry into build/docs-assets and
# runs `pytest proofs` for the Verification page unless build/proofs/report.json is newer than
# proofs/ and mmae/ (or MMAE_PROOFS_REPORT names a report). Screenshots: build/screenshots/*.png.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off NO_MKDOCS_2_WARNING=1 PYDEVD_DISABLE_FILE_VALIDATION=1

step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }
t0=$SECONDS

PY=${PYTHON:-}
if [[ -z "$PY" ]]; then
    if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
apt_install() {
    if [[ $apt_updated -eq 0 ]]; then as_root apt-get update -qq; apt_updated=1; fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

step "dependencies"
if ! "$PY" -c "import torch" 2>/dev/null; then
    "$PY" -m pip install -q torch==2.13.0      # the CPU build, as in README.md
fi
if ! "$PY" -c "import mmae, mkdocs, material, mkdocs_jupyter, mkdocstrings_handlers.python, playwright" 2>/dev/null; then
    "$PY" -m pip install -q -e ".[docs]" playwright
fi
[[ -x /usr/bin/chromium ]] || apt_install chromium
command -v npm >/dev/null || apt_install npm

step "mkdocs build --strict"
t1=$SECONDS
"$PY" -m mkdocs build --strict
echo "built site/ in $((SECONDS - t1)) s"

step "browser test"
t2=$SECONDS
"$PY" docs/browser_test.py
echo "browser test in $((SECONDS - t2)) s; docs CI in $((SECONDS - t0)) s"
