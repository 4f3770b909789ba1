#!/usr/bin/env bash
# Obtain a CPython 3.13 for the test matrix (bpy 5.1+ is published for 3.13 only).
# Debian bookworm has no 3.13 and its glibc is too old for Debian 13 binaries, and
# no prebuilt CPython can be downloaded here, so build it once from the Debian 13
# (trixie) source package into the matrix cache. Later calls find it and return.
#   usage: scripts/matrix_python313.sh   -> prints the interpreter's path
set -euo pipefail
cache="${ALIVE_MATRIX_CACHE:-$HOME/.cache/alive-matrix}"
prefix="$cache/python3.13"
py="$prefix/bin/python3.13"
if [ -x "$py" ] && "$py" -c 'import ssl, sqlite3, zlib, lzma, bz2, ctypes, venv' 2>/dev/null; then
  echo "$py"; exit 0
fi
log() { echo "matrix: $*" >&2; }
command -v apt-get >/dev/null || { echo "matrix: error: no apt-get; install Python 3.13 and set ALIVE_PY313" >&2; exit 2; }

src_list=/etc/apt/sources.list.d/trixie-src.sources
if [ ! -f "$src_list" ]; then
  log "adding Debian 13 source entries ($src_list)"
  cat > "$src_list" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
log "apt-get update; build dependencies from bookworm"
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  build-essential pkg-config libssl-dev zlib1g-dev libffi-dev libsqlite3-dev libbz2-dev \
  liblzma-dev libreadline-dev uuid-dev libncurses-dev libgdbm-dev libexpat1-dev xz-utils >&2

work="$cache/src"
mkdir -p "$work"
cd "$work"
orig="$(ls python3.13_*.orig.tar.* 2>/dev/null | head -1 || true)"
if [ -z "$orig" ]; then
  log "downloading the python3.13 source package (Debian 13)"
  apt-get source --download-only python3.13 >&2
  orig="$(ls python3.13_*.orig.tar.* | head -1)"
fi
log "building from $orig into $prefix (no PGO, no tests)"
rm -rf build && mkdir build
tar -xf "$orig" -C build --strip-components=1
cd build
nice ./configure --prefix="$prefix" --enable-shared LDFLAGS="-Wl,-rpath,$prefix/lib" >&2
nice make -j2 >&2
nice make install >&2
"$py" -c 'import ssl, sqlite3, zlib, lzma, bz2, ctypes, venv' >&2
echo "$py"
