"""``python -m alive_blender <command> ...`` (the bpy-module entry point)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
