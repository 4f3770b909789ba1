#!/usr/bin/env bash
# Run the test suite on every Blender generation the manifest claims: the newest
# bpy 4.2 LTS and 4.5 LTS (Python 3.11), the newest 5.1, 5.2 LTS and 5.3
# (Python 3.13; bpy 5.1 and later exist for 3.13 only). CI runs bpy 5.0.1
# (scripts/test.sh).
#
#   scripts/test_matrix.sh                     # all generations, whole suite
#   scripts/test_matrix.sh 4.2 5.2 -- tests/test_manifest.py -q   # some, with pytest arguments
#
# Each bpy gets its own venv in $ALIVE_MATRIX_CACHE (default ~/.cache/alive-matrix),
# made once. The Python 3.11 envs hold only bpy and reuse the project venv's torch,
# open_clip, pytest... through a .pth line that comes after their own site-packages
# (ALIVE_VENV, default .venv; scripts/env.sh makes it). The 3.13 env installs its
# own compiled packages (torch from PyPI; the CUDA libraries torch loads are
# Python-independent, so they are linked from the 3.11 venv instead of downloaded
# again); the 5.1 and 5.3 envs hold only bpy and reuse the 5.2 env's packages the same
# way. Python 3.13 itself comes from scripts/matrix_python313.sh.
# Prints one result line per generation and exits non-zero if any failed.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${ALIVE_MATRIX_CACHE:-$HOME/.cache/alive-matrix}"
base="${ALIVE_VENV:-$root/.venv}"
export ALIVE_MATRIX_CACHE="$cache"
# newest release of each generation on PyPI (pip index versions bpy --python-version 3.13)
declare -A BPY=([4.2]=4.2.23 [4.5]=4.5.15 [5.0]=5.0.1 [5.1]=5.1.2 [5.2]=5.2.3 [5.3]=5.3.0)
declare -A PYV=([4.2]=3.11 [4.5]=3.11 [5.0]=3.11 [5.1]=3.13 [5.2]=3.13 [5.3]=3.13)
# torch for the 3.13 env: the same release as the base venv, so its CUDA libraries fit
TORCH313="${ALIVE_MATRIX_TORCH:-}"

gens=(); pytest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; pytest_args=("$@"); break ;;
    *) gens+=("$1"); shift ;;
  esac
done
[ ${#gens[@]} -gt 0 ] || gens=(4.2 4.5 5.1 5.2 5.3)
[ ${#pytest_args[@]} -gt 0 ] || pytest_args=(-q tests)

log() { echo "matrix: $*" >&2; }
"$root/scripts/env.sh" true || exit 2          # the base venv exists and is current
base_site="$("$base/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

make_env_over() {  # $1 generation, $2 the env whose interpreter and packages it reuses: bpy alone
  local env="$cache/bpy-${BPY[$1]}" over="$2"
  if [ ! -f "$env/.ready" ]; then
    log "making $env over $over"
    rm -rf "$env"
    "$over/bin/python" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '${PYV[$1]}'.split('.'))))" \
      || { log "$over is not Python ${PYV[$1]}"; return 1; }
    # that env's interpreter; no pip of its own: that env's installs into it
    "$(readlink -f "$over/bin/python")" -m venv --without-pip "$env" || return 1
    local site over_site
    site="$("$env/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    over_site="$("$over/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    # bpy alone (its numpy/requests/zstandard come from the env below, which has them)
    "$over/bin/python" -m pip install --quiet --no-deps --target "$site" "bpy==${BPY[$1]}" >&2 || return 1
    echo "$over_site" > "$site/zz-alive-base-venv.pth"
    touch "$env/.ready"
  fi
  echo "$env"
}

make_env313() {
  local env="$cache/bpy-${BPY[5.2]}"
  if [ ! -f "$env/.ready" ]; then
    local py; py="${ALIVE_PY313:-$("$root/scripts/matrix_python313.sh")}" || return 1
    log "making $env with $py"
    rm -rf "$env"
    "$py" -m venv "$env" || return 1
    local pip=("$env/bin/python" -m pip install --quiet)
    local torch="${TORCH313:-$("$base/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')}"
    local tv; tv="$("$base/bin/python" -c 'import torchvision; print(torchvision.__version__.split("+")[0])')"
    local site; site="$("$env/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    # torch without its CUDA wheels: link the base venv's (py3-none wheels, the same torch release)
    PIP_CONSTRAINT= "${pip[@]}" --no-deps "torch==$torch" "torchvision==$tv" >&2 || return 1
    for d in "$base_site"/nvidia "$base_site"/nvidia_*.dist-info "$base_site"/nvidia-*.dist-info; do
      [ -e "$d" ] && ln -sfn "$d" "$site/$(basename "$d")"
    done
    "${pip[@]}" --no-deps open_clip_torch timm >&2 || return 1
    "${pip[@]}" "bpy==${BPY[5.2]}" filelock fsspec jinja2 networkx setuptools sympy typing-extensions \
      numpy scipy pillow safetensors regex ftfy tqdm huggingface_hub pyyaml pytest pytest-timeout >&2 || return 1
    # the same Ray as the base venv (batch --ray; its test is skipped without it)
    local ray; ray="$("$base/bin/python" -c 'import ray; print(ray.__version__)' 2>/dev/null)"
    [ -z "$ray" ] || "${pip[@]}" "ray==$ray" >&2 || return 1
    touch "$env/.ready"
  fi
  echo "$env"
}

status=0; summary=()
for g in "${gens[@]}"; do
  [ -n "${BPY[$g]:-}" ] || { log "unknown generation $g (known: ${!BPY[*]})"; exit 2; }
  if [ "$g" = 5.0 ]; then env="$base"
  elif [ "$g" = 5.2 ]; then env="$(make_env313)" || { summary+=("bpy ${BPY[$g]} (py ${PYV[$g]}): SETUP FAILED"); status=1; continue; }
  elif [ "${PYV[$g]}" = 3.13 ]; then env="$(make_env_over "$g" "$(make_env313)")" || { summary+=("bpy ${BPY[$g]} (py ${PYV[$g]}): SETUP FAILED"); status=1; continue; }
  else env="$(make_env_over "$g" "$base")" || { summary+=("bpy ${BPY[$g]} (py ${PYV[$g]}): SETUP FAILED"); status=1; continue; }
  fi
  got="$("$env/bin/python" -c 'import sys, bpy; print(bpy.app.version_string, sys.version.split()[0])' 2>/dev/null | tail -1)"
  log "bpy ${BPY[$g]}: running pytest ${pytest_args[*]} ($got)"
  out="$cache/last-${BPY[$g]}.log"
  (cd "$root" && PYTHONPATH="$root" "$env/bin/python" -m pytest -p no:cacheprovider "${pytest_args[@]}") 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  line="$(grep -E '(passed|failed|error|skipped)' "$out" | grep -E ' in [0-9.]+s' | tail -1)"
  summary+=("bpy ${BPY[$g]} ($got): rc=$rc  ${line:-no summary}")
  [ "$rc" = 0 ] || status=1
done
echo "== matrix =="; printf '%s\n' "${summary[@]}"
exit $status
