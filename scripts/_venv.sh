# Sourced by the scripts: a project virtualenv (default .venv, or $IDSTITCH_VENV) with idstitch
# and its client distribution installed in editable mode, plus the extras named in $1 (e.g. "test").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${IDSTITCH_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
extras="${1:-}"
# The client distribution (client/) and the server that depends on it, in one pip command so that
# pip takes idstitch-client from here rather than from an index.
"$VENV/bin/python" -m pip install -q -e "$ROOT/client" -e "$ROOT${extras:+[$extras]}"
