#!/usr/bin/env bash
# Make sure the project's virtual environment exists and is current, then run
# the given command inside it. Creates .venv (Python 3.11, as bpy 5.0 needs)
# on first use and reinstalls when requirements.txt changes. Nothing else is
# needed on a fresh machine.
#   usage: scripts/env.sh python -m alive_blender ...
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ALIVE_VENV:-$root/.venv}"
stamp="$venv/.alive-requirements"
want="$(sha256sum "$root/requirements.txt" | cut -d' ' -f1)"

if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  py=""
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      py="$cand"; break
    fi
  done
  if [ -z "$py" ]; then
    echo "alive: error: Python 3.11 is required (bpy 5.0 is built for it); install python3.11" >&2
    exit 2
  fi
  echo "alive: setting up $venv (first run: downloads torch, bpy and open_clip, a few minutes)" >&2
  [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
  "$venv/bin/python" -m pip install --quiet -r "$root/requirements.txt" >&2
  echo "$want" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
cd "$root"
exec "$@"
