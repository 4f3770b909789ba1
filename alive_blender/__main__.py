"""``python -m alive_blender <command> ...`` (the bpy-module entry point)."""

import os
import sys

from .cli import main

if __name__ == "__main__":
    code = main()
    if "--json" in sys.argv[1:]:
        # the JSON is out; what Blender prints while exiting (4.2's "Not freed memory
        # blocks" report goes to fd 1) must not follow it on stdout
        sys.stdout.flush()
        os.dup2(2, 1)
    sys.exit(code)
