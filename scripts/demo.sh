#!/usr/bin/env bash
# README command 1: build the demo scene and make it alive.
# Writes out/demo.blend and out/preview.png. Extra arguments go to `alive demo`.
exec "$(dirname "${BASH_SOURCE[0]}")/env.sh" python -m alive_blender demo --out out "$@"
