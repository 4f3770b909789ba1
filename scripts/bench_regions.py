"""Rows of ``bench_alive.py`` for footage: the combination scene's frames fed in as footage.

The scene's first N ground-truth frames are written as PNGs and captured with
``capture --images`` (no object ids, no depth: what a video gives). Rows:

* ``footage-frames``: the whole-frame walk (object-layers' footage mode, as
  before core/regions: every invented frame is a captured frame re-ordered);
* ``footage-regions``: the default for such footage, region-layers +
  object-walk over the regions (core/regions).

Both are scored like every row (against the renders of every arrangement) and
get the seam metric of ``core/regions/seams.py`` (Liao et al. 2015's
gradient-domain consistency, spatial + temporal, per pixel per frame).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

TRAIN_WHOLE_FRAME = """
import sys
from alive_blender.core.regions import layers as region_layers
region_layers.region_layers_for = lambda *a, **k: None   # regions off: the whole-frame mode as before
from alive_blender.core.run import stages
stages.encode(sys.argv[1], {}, 'auto')
print(stages.train(sys.argv[1], {}, {}, 'auto'), file=sys.stderr)
"""


def write_pngs(frames: np.ndarray, folder: Path) -> None:
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(frames):
        Image.fromarray(np.asarray(img, np.uint8)).save(folder / f"frame_{i + 1:05d}.png")


def seam_scores(wd: Path, tag: str) -> dict:
    """The seam metric of a rollout's states (every variation, invented frames and the start)."""
    from alive_blender.core.regions.compose import background_plate
    from alive_blender.core.regions.seams import seam_cost
    from alive_blender.core.run import stages
    from alive_blender.core.workdir.dataset import load_capture
    states_file = wd / f"bench_{tag}.states.npy"
    if not states_file.exists():
        return {}
    states = np.load(states_file)
    rgb = load_capture(wd).rgb
    gen = stages.load_generator(wd)
    labels = gen.a["labels"] if hasattr(gen, "region_features") else np.ones(rgb.shape[1:3], np.int64)
    plate = gen.a["plate"] if hasattr(gen, "region_features") else background_plate(rgb)
    costs = [seam_cost(rgb, plate, labels, states[k]) for k in range(len(states))]
    return {"seam_spatial": float(np.mean([c.spatial for c in costs])),
            "seam_temporal": float(np.mean([c.temporal for c in costs])),
            "seam_total": float(np.mean([c.total for c in costs])), "regions": int(states.shape[-1])}


def footage_rows(name: str, truth, shot: Path, size: str, args, log: Path, cli, python, rollout_and_decode,
                 score_row, cfgs, tau_db) -> dict:
    """One footage row (``footage-frames`` or ``footage-regions``) of a shot."""
    base = shot / "footage"
    pngs = base / "frames"
    if not pngs.exists():
        write_pngs(truth.rgb[:args.frames], pngs)
    wd = base / name
    shutil.rmtree(wd, ignore_errors=True)
    _, t_cap = cli(["capture", "--images", pngs, "--out", wd, "--resolution", size], args.threads, log)
    if name == "footage-frames":
        t_train = python(TRAIN_WHOLE_FRAME, [wd], args.threads, log)
        note = "footage, whole-frame walk (regions off): captured frames re-ordered"
    else:
        res, t_train = cli(["train", wd], args.threads, log)
        note = f"footage, train's default: {res.get('generator', '?')} + {res.get('behavior', '?')}"
    dec = rollout_and_decode(wd, "default", args, size, log)
    timing = {"capture_s": round(t_cap, 1), "train_s": round(t_train, 1), "rollout_s": round(dec["rollout_s"], 1),
              "decode_s": round(dec["decode_s"], 1)}
    timing["total_s"] = round(t_cap + t_train + dec["rollout_s"] + dec["decode_s"], 1)
    row = score_row(name, dec["rgb"], None, cfgs, tau_db, timing, note)
    row.update(seam_scores(wd, "default"))
    return row


def real_footage_rows(footage: Path, size: str, args, work: Path, log: Path, cli, python, rollout_and_decode) -> list:
    """Real footage (no ground truth of arrangements): the whole-frame walk and the region walk, scored
    against the footage's own frames (``score_footage``) and by the seam metric."""
    from alive_blender.core import frame_metrics as fm
    from alive_blender.core.workdir.dataset import load_capture
    base = work / f"real_footage_{size}"
    shutil.rmtree(base, ignore_errors=True)
    cli(["capture", "--images", footage, "--out", base / "all", "--resolution", size], args.threads, log)
    real = load_capture(base / "all").rgb
    out = []
    for name in ("footage-frames", "footage-regions"):
        wd = base / name
        _, t_cap = cli(["capture", "--images", footage, "--out", wd, "--frames", f"1-{args.frames}",
                        "--resolution", size], args.threads, log)
        if name == "footage-frames":
            t_train = python(TRAIN_WHOLE_FRAME, [wd], args.threads, log)
        else:
            _, t_train = cli(["train", wd], args.threads, log)
        dec = rollout_and_decode(wd, "default", args, size, log)
        row = {"row": name, "engine": "-", "size": size, **fm.score_footage(dec["rgb"], real),
               "capture_s": round(t_cap, 1), "train_s": round(t_train, 1), "rollout_s": round(dec["rollout_s"], 1),
               "decode_s": round(dec["decode_s"], 1), "_rgb": dec["rgb"],
               "note": f"{footage.name}: {len(real)} real frames, first {args.frames} captured"}
        row.update(seam_scores(wd, "default"))
        out.append(row)
    return out
