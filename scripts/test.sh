#!/usr/bin/env bash
# README command 2: run the test suite (inside real Blender: the bpy module).
exec "$(dirname "${BASH_SOURCE[0]}")/env.sh" python -m pytest -ra "$@" tests
