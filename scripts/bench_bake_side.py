"""The point bakes from the side: silhouette IoU per object against Blender's render of the same
state, .blend size and bake time, the per-frame bake and the 3-D bake side by side (docs/world.md).

    python scripts/bench_bake_side.py SCENE.blend WORKDIR --frames 9,20 [--json OUT.json]

WORKDIR is a finished ``run`` of SCENE.blend (a rendered capture with ids). Rows, each one
``alive bake`` of the work directory's rollout into SCENE.blend (points only, no texture):
``per-frame`` (``--point-bake per-frame``), ``3-D, captured points`` (the 3-D bake of a copy of
the work directory without ``capture/object_surfaces.npz``: what the capture saw, as before the
completion), ``3-D (default)``. Blender's render of the same state is ``bake --objects`` (the
scene's own meshes keyed at the invented poses). Each moving object is rendered alone from a
side camera (``tests/scripts/side_render.py``: +x, Cycles, 64x48, film transparent) in a plain
Blender without the add-on; IoU of the alpha masks (> 0.5). The per-frame bake is one object for
everything, so it has no per-object IoU.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SIDE = (ROOT / "tests" / "scripts" / "side_render.py").read_text()


def cli(*args) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-m", "alive_blender", "--json", *map(str, args)], capture_output=True,
                         text=True, env=env)
    if res.returncode:
        sys.exit(f"alive {' '.join(map(str, args[:1]))} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout)


def side_masks(blend: Path, frame: int, names: list, out: Path) -> list:
    from PIL import Image
    out.mkdir(parents=True, exist_ok=True)
    res = subprocess.run([sys.executable, "-c", SIDE, str(blend), str(out), str(frame), json.dumps(names)],
                         capture_output=True, text=True)
    if res.returncode:
        sys.exit(f"side render failed:\n{res.stderr[-3000:]}")
    return [np.asarray(Image.open(out / f"{i}.png").convert("RGBA"))[..., 3] > 127 for i in range(len(names))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scene")
    ap.add_argument("workdir")
    ap.add_argument("--frames", default="9", help="scene frames to render from the side (comma-separated)")
    ap.add_argument("--json", default="", help="write the rows here too")
    args = ap.parse_args()
    scene, work = Path(args.scene).resolve(), Path(args.workdir).resolve()
    frames = [int(f) for f in args.frames.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="bench-bake-side-"))
    try:
        bare = tmp / "work-no-surfaces"
        shutil.copytree(work, bare, ignore=shutil.ignore_patterns("bakes", "*.blend"))
        (bare / "capture" / "object_surfaces.npz").unlink(missing_ok=True)
        keyed = tmp / "keyed.blend"
        objects = cli("bake", scene, work, "--objects", "--save", keyed)["objects"]["objects"]
        truth = {f: side_masks(keyed, f, objects, tmp / f"mesh_{f}") for f in frames}
        rows = []
        for label, wd, flags in (("per-frame (--point-bake per-frame)", work, ["--point-bake", "per-frame"]),
                                 ("3-D, captured points (no object surfaces)", bare, []),
                                 ("3-D (default)", work, [])):
            out = tmp / f"{len(rows)}.blend"
            t0 = time.perf_counter()
            res = cli("bake", scene, wd, "--points", *flags, "--save", out)
            row = {"row": label, "bake_s": round(time.perf_counter() - t0, 2), "blend_mb": out.stat().st_size / 1e6}
            if "points_3d" in res:
                w = res["points_3d"]
                row.update(points=w["points"], completed=w["completed"], clouds_s=w["seconds"], iou={})
                for f in frames:
                    got = side_masks(out, f, [f"Alive Cloud alive {n}" for n in objects], tmp / f"c{len(rows)}_{f}")
                    for n, a, b in zip(objects, got, truth[f]):
                        row["iou"].setdefault(n, []).append(round(float((a & b).sum() / max((a | b).sum(), 1)), 3))
            else:
                row.update(points=int(sum(res["points_per_frame"])), completed=0, clouds_s=None, iou=None)
            rows.append(row)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nside IoU per object at frames {frames} (against bake --objects rendered the same way)")
    print("| row | points | completed | bake s (CLI, incl. Blender start) | .blend MB | " +
          " | ".join(f"IoU {n}" for n in objects) + " |")
    print("| --- " * (5 + len(objects)) + "|")
    for r in rows:
        ious = [", ".join(f"{v:.3f}" for v in r["iou"][n]) if r["iou"] else "-" for n in objects]
        print(f"| {r['row']} | {r['points']:,} | {r['completed']:,} | {r['bake_s']:.1f} | {r['blend_mb']:.2f} | "
              + " | ".join(ious) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps({"frames": frames, "objects": objects, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
