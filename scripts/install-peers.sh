#!/usr/bin/env bash
# Installs the peer HE libraries used by `henn bench ops` for side-by-side timings:
# SEAL through TenSEAL (system python3) and OpenFHE in a python3.10 virtualenv.
# Usage: scripts/install-peers.sh [VENV_DIR]   (default: .peers/openfhe-venv)
set -euo pipefail
VENV="${1:-.peers/openfhe-venv}"
python3 -m pip install --user tenseal==0.3.18 || python3 -m pip install --user --break-system-packages tenseal==0.3.18
PY310="${PY310:-$(pyenv root 2>/dev/null)/versions/3.10.13/bin/python3.10}"
if [ ! -x "$PY310" ]; then
  PY310="$(command -v python3.10 || true)"
fi
if [ -z "$PY310" ]; then
  echo "python3.10 not found: OpenFHE peer skipped" >&2
  exit 0
fi
mkdir -p "$(dirname "$VENV")"
"$PY310" -m venv "$VENV"
"$VENV/bin/pip" install openfhe==1.6.1.0.22.4
echo "peers installed; OpenFHE venv at $VENV"
