#!/usr/bin/env bash
# README command 2: run the test suite (inside real Blender: the bpy module).
# Extra arguments go to pytest; with no test path among them the whole suite runs.
# Every test has a deadline (pyproject.toml: timeout). A run that skips more tests
# than .ci/max-skips allows fails: a skip hides a feature (the SKIPPED lines say why).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
paths=(tests)
for arg in "$@"; do
  case "$arg" in -*) ;; *tests*|*.py*) paths=() ;; esac
done
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
"$here/env.sh" python -m pytest -ra "$@" "${paths[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
skipped="$(tail -n 5 "$log" | grep -Eo '[0-9]+ skipped' | tail -n 1 | cut -d' ' -f1)"
max="$(cat "$root/.ci/max-skips" 2>/dev/null || echo 0)"
if [ "$rc" -eq 0 ] && [ "${skipped:-0}" -gt "$max" ]; then
  echo "alive: error: ${skipped} tests skipped, more than the ${max} allowed by .ci/max-skips (a skip hides a feature: the SKIPPED lines above say why; fix the cause, or raise the number in a reviewed commit)" >&2
  rc=1
fi
exit "$rc"
