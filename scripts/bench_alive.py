#!/usr/bin/env python3
"""Do the invented frames look real? Pixel-space benchmark on a combination scene.

    python scripts/bench_alive.py [--size 64x48,256x192] [--engine WORKBENCH,CYCLES]
                                  [--rows default,grid-siren,original,video-texture,crossfade,ceiling,footage]
                                  [--frames 64] [--periods 12,17] [--count 8] [--steps 200]
                                  [--threads 2] [--keep DIR] [--json OUT] [--contact-sheet PNG]

The scene (``alive_blender/blender/combination_scene.py``): two objects on
independent cyclic paths with coprime periods, so one full cycle (P1 * P2
frames) shows every combination of their phases. Per engine and size:

1. ground truth: every frame of the full cycle through the project's own
   capture (``alive run --until capture``: the same settings, colour handling
   and depth as a shot's capture); renders that look identical (the symmetric
   path) are grouped into one *configuration*;
2. the shot: ``alive run --frames 1-N --until train`` (capture, encode and
   train with run's defaults at the time of the run) -- the "default" row;
3. other rows train on a copy of that capture with ``alive train``; each
   model row rolls out ``--count`` x ``--steps`` (``alive rollout``) and
   decodes every invented frame at the shot's size (``alive decode``);
4. every invented frame is scored by ``core/frame_metrics.py``: nearest real
   configuration by whole-frame PSNR, real (>= tau), novel-real (real, and
   that configuration is not in the capture), configurations reached, new
   configurations reached, and the decoded depth's median relative error
   against the matched configuration's real depth.

Rows: default (run's defaults), grid-siren (explicitly, at run's step budget),
original (original-siren + original-vae, rollout anchor 0.1 as that design
had), relational and walk (object-layers with ``--behavior relational`` /
``object-walk`` by name, whatever run's default is), video-texture
(``rollout --video-texture`` through the default model's
generator), crossfade (50/50 blends of two captured frames of different
configurations: must score low, else the metric is broken), ceiling (the real
renders of the never-captured configurations), footage
(/work/shared/data/pedestrians: no configurations; whole-frame nearest-real
PSNR of invented frames against tau computed among the real frames),
moving-camera and dolly (issue 19, ``scripts/bench_world.py``: the scene with a
panning / dollying camera, object-world with run's default behavior and with
the object walk, against object-layers; scored by the re-render oracle).

Timing columns are the wall time of each CLI process (start-up and imports
included: what a user waits); the machine's load average is recorded.
Target (issue 12): capture + train + rollout + decode of the default row
<= 180 s at 64x48 on 2 CPU cores.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FOOTAGE = Path(os.environ.get("ALIVE_FOOTAGE", "/work/shared/data/pedestrians"))
ALL_ROWS = ["default", "grid-siren", "original", "relational", "relational+world", "video-texture", "crossfade", "ceiling", "footage",
            "moving-camera", "dolly"]
ALL_ROWS += ["footage-frames", "footage-regions"]   # the scene fed as footage (scripts/bench_regions.py)
ALL_ROWS += ["walk"]   # the object walk by name, whatever run's default behavior is
TARGET_S = 180.0

from alive_blender.core import frame_metrics as fm  # noqa: E402  (pure numpy, no bpy)


def env_for(threads: int) -> dict:
    n = str(threads)
    return dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", OMP_NUM_THREADS=n, MKL_NUM_THREADS=n)


class CommandFailed(RuntimeError):
    pass


def cli(args, threads: int, log: Path) -> tuple[dict, float]:
    """``python -m alive_blender --json ARGS``; returns (its JSON result, wall seconds)."""
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "alive_blender", "--json", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(threads), cwd=ROOT)
    try:
        out, err = proc.communicate()
    finally:
        if proc.poll() is None:  # the bench was stopped: stop the command at its safe point too
            proc.terminate()
            proc.wait()
    wall = time.monotonic() - t0
    with open(log, "a") as f:
        f.write(f"$ alive {' '.join(map(str, args))}\n{err}\n")
    if proc.returncode != 0:
        lines = [l for l in err.strip().splitlines() if l.startswith("alive: error")] or err.strip().splitlines() or ["?"]
        what = "crashed (signal)" if proc.returncode < 0 or proc.returncode > 128 else "failed"
        raise CommandFailed(f"`alive {args[0]}` {what} ({proc.returncode}): {lines[-1][:200]}")
    return (json.loads(out) if out.strip() else {}), wall


def python(code: str, args, threads: int, log: Path) -> float:
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                         env=env_for(threads), cwd=ROOT)
    with open(log, "a") as f:
        f.write(f"$ python -c ... {' '.join(map(str, args))}\n{res.stderr}\n")
    if res.returncode != 0:
        raise CommandFailed("python step failed: " + (res.stderr.strip().splitlines() or ["?"])[-1])
    return time.monotonic() - t0


def run_defaults() -> dict:
    """`alive run`'s own defaults (the settings schema's, so the bench follows them)."""
    from alive_blender.core.settings import FLAT_DEFAULTS
    return dict(FLAT_DEFAULTS)


def train_flags() -> set:
    from alive_blender.cli import cmd_train
    p = argparse.ArgumentParser()
    cmd_train.add_parser(p.add_subparsers())
    return set(p._subparsers._group_actions[0].choices["train"]._option_string_actions)


MAKE_SCENE = """
import bpy, sys
from alive_blender.blender.combination_scene import build_combination_scene
bpy.ops.wm.read_factory_settings(use_empty=True)
if len(sys.argv) > 5 and sys.argv[5] != 'combination':   # an interaction scene (blender/interaction_scenes.py)
    from alive_blender.blender.interaction_scenes import SCENES
    scene = SCENES[sys.argv[5]](periods=(int(sys.argv[2]), int(sys.argv[3])))
else:
    scene = build_combination_scene(periods=(int(sys.argv[2]), int(sys.argv[3])), swing=sys.argv[4] == '1')
for s in [s for s in bpy.data.scenes if s != scene]:
    bpy.data.scenes.remove(s)
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
"""

TRAIN_ORIGINAL = """
import json, sys
from alive_blender.core.run import stages
wd, steps, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
stages.encode(wd, {}, 'auto')
stages.train(wd, {'arch': 'original-siren', 'steps': steps, 'seed': 0}, {'arch': 'original-vae', 'epochs': epochs, 'seed': 0}, 'auto')
"""


def read_decoded(folder: Path):
    from PIL import Image
    names = sorted(folder.glob("frame_*.png"))
    rgb = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in names])
    dpath = folder / "depth" / "depth.npy"
    return rgb, (np.load(dpath) if dpath.exists() else None)


def rollout_and_decode(wd: Path, tag: str, args, size: str, log: Path, extra=()) -> dict:
    """Roll out count x steps, decode every invented frame (index 0 is the start: left out)."""
    ro = wd / f"bench_{tag}.npy"
    res_ro, t_ro = cli(["rollout", wd, "--steps", args.steps, "--count", args.count, "--seed", 0, "--out", ro,
                        *extra], args.threads, log)
    emb = np.load(ro)[:, 1:].reshape(-1, np.load(ro).shape[-1])
    flat = wd / f"bench_{tag}_invented.npy"
    np.save(flat, emb.astype(np.float32))
    states = ro.with_suffix(".states.npy")   # an object walk's per-object states: decode composes them
    if states.exists():
        np.save(flat.with_suffix(".states.npy"), np.load(states)[:, 1:])
    import bench_relational_world as brw   # free poses (relational on object-world): decode draws R.poses.npy
    free = res_ro.get("poses_drawn") == "free"
    if free:
        np.save(flat.with_suffix(".poses.npy"), np.load(ro.with_suffix(".poses.npy"))[:, 1:])
    out = wd / f"decoded_{tag}"
    _, t_dec = cli(["decode", wd, "--embeddings", flat, "--out", out, "--size", size,
                    *(["--poses", flat.with_suffix(".poses.npy")] if free else [])], args.threads, log)
    rgb, depth = read_decoded(out)
    return {"rgb": rgb, "depth": depth, "rollout_s": t_ro, "decode_s": t_dec,
            "behavior": res_ro.get("behavior"), "new_poses": brw.new_pose_share(wd, ro),
            "contact_off": (brw.contact_off_poses(wd, ro) if free else
                            contact_off(wd, np.load(states)[:, 1:]) if states.exists() else None)}


def contact_off(wd: Path, states: np.ndarray):
    """Share of invented frames where shown objects interpenetrate or lose contact, from the poses of
    the samples each object is drawn from and the objects' bounding boxes (relational.relations)."""
    from alive_blender.core.models.layers import moving_objects
    from alive_blender.core.models.relational.relations import contact_pairs, contact_violations
    from alive_blender.core.workdir.dataset import load_capture
    cap = load_capture(wd)
    objects, bounds = moving_objects(cap), cap.meta.get("object_bounds")
    if not objects or not bounds:
        return None
    world = np.stack([cap.object_matrices(o) for o in objects], 1)          # (samples, M, 4, 4)
    b = np.array([bounds[str(o)] for o in objects], np.float64)
    flat = states.reshape(-1, states.shape[-1])
    drawn = world[flat, np.arange(len(objects))]
    return float(contact_violations(drawn, world, b, contact_pairs(world, b)).mean())


def score_row(name, rgb, depth, cfgs, tau_db, timings=None, note="") -> dict:
    s = fm.score_frames(rgb, cfgs, depth, tau_db=tau_db)
    row = {"row": name, **s.summary(), **(timings or {}), "note": note}
    row["_scores"] = s
    row["_rgb"] = rgb
    return row


def bench_shot(engine: str, size: str, args, rows: list, work: Path, defaults: dict, log: Path) -> dict:
    """Every scene row at one engine and size."""
    w, h = map(int, size.lower().split("x"))
    p1, p2 = args.periods
    cycle = p1 * p2
    shot = work / f"{engine.lower()}_{size}"
    shot.mkdir(parents=True, exist_ok=True)
    blend = work / "combination.blend"
    common = ["--resolution", size, "--engine", engine]
    t0 = time.monotonic()
    cli(["run", blend, "--out", shot / "truth", "--frames", f"1-{cycle}", *common, "--until", "capture"],
        args.threads, log)
    t_truth = time.monotonic() - t0
    from alive_blender.core.workdir.dataset import load_capture
    truth = load_capture(shot / "truth")
    cfgs = fm.Configurations.from_renders(truth.rgb, truth.depth, truth.frames.astype(int),
                                          captured_frames=range(1, args.frames + 1))
    tau_db = fm.tau(cfgs)
    info = {"engine": engine, "size": size, "cycle_frames": cycle, "configurations": len(cfgs),
            "captured_configurations": int(cfgs.captured.sum()), "tau": round(tau_db, 2),
            "truth_capture_s": round(t_truth, 1)}
    print(f"[{engine} {size}] {cycle} frames -> {len(cfgs)} configurations, {info['captured_configurations']} "
          f"in the capture of frames 1-{args.frames}; tau {tau_db:.2f} dB", file=sys.stderr)
    out_rows = []

    def attempt(name, fn):
        if name not in rows:
            return
        print(f"[{engine} {size}] row {name} ...", file=sys.stderr)
        try:
            out_rows.append(fn())
        except CommandFailed as err:
            out_rows.append({"row": name, "error": str(err)})
        print(f"[{engine} {size}] {json.dumps(public(out_rows[-1]))}", file=sys.stderr)

    dflt = shot / "default"
    budget = ["--generator-steps", defaults["generator_steps"], "--behavior-epochs", defaults["behavior_epochs"]]

    def reusable(wd: Path) -> bool:
        return args.reuse and (wd / "model" / "manifest.json").exists() and (wd / "capture" / "meta.json").exists()

    def default_row():
        if reusable(dflt):  # --reuse: a model trained by an earlier (possibly stopped) bench run
            dec = rollout_and_decode(dflt, "default", args, size, log)
            settings = json.loads((dflt / "model" / "manifest.json").read_text())
            return score_row("default", dec["rgb"], dec["depth"], cfgs, tau_db,
                             {"rollout_s": round(dec["rollout_s"], 1), "decode_s": round(dec["decode_s"], 1)},
                             f"run defaults, model reused (no train timing); "
                             f"{settings.get('generator', {}).get('arch', '?')} + "
                             f"{settings.get('behavior', {}).get('arch', '?')}")
        shutil.rmtree(dflt, ignore_errors=True)
        # capture with run's own settings, then train in a fresh process with run's budget: `run` that
        # trains in the process that rendered with Workbench dies with a segfault (exit 139, bpy 5.0.1)
        res, t_run = cli(["run", blend, "--out", dflt, "--frames", f"1-{args.frames}", *common, "--until", "capture"],
                         args.threads, log)
        tm = res.get("timings", {})
        res, t_train = cli(["train", dflt, *budget], args.threads, log)
        res = {"train": res}
        t_run += t_train
        cap = load_capture(dflt)
        # the shot's capture must be the truth's frames 1..N, pixel for pixel
        info["capture_vs_truth_min_psnr"] = float(np.min([fm.psnr_from_mse(np.mean(
            (cap.rgb[i] / 255.0 - truth.rgb[i] / 255.0) ** 2)) for i in range(len(cap.rgb))]))
        dec = rollout_and_decode(dflt, "default", args, size, log)
        t_cap = tm.get("capture", 0.0)
        timing = {"capture_s": round(t_cap, 1), "train_s": round(t_run - t_cap, 1),
                  "rollout_s": round(dec["rollout_s"], 1), "decode_s": round(dec["decode_s"], 1)}
        timing["total_s"] = round(t_run + dec["rollout_s"] + dec["decode_s"], 1)
        timing["contact_off"] = dec["contact_off"]
        timing["new_poses"] = dec["new_poses"]
        return score_row("default", dec["rgb"], dec["depth"], cfgs, tau_db, timing,
                         f"run defaults; {res.get('train', {}).get('generator', '?')} + "
                         f"{res.get('train', {}).get('behavior', '?')}")

    def trained_row(name, train_cmd, rollout_extra=(), note=""):
        wd = shot / name
        if reusable(wd):
            t_train, note = None, note + "; model reused (no train timing)"
        else:
            shutil.rmtree(wd, ignore_errors=True)
            wd.mkdir(parents=True)
            if not (dflt / "capture" / "meta.json").exists():
                raise CommandFailed("needs the default row's capture (run the 'default' row too)")
            shutil.copytree(dflt / "capture", wd / "capture")
            t_train = train_cmd(wd)
        dec = rollout_and_decode(wd, name, args, size, log, rollout_extra)
        timing = {"train_s": None if t_train is None else round(t_train, 1), "rollout_s": round(dec["rollout_s"], 1),
                  "decode_s": round(dec["decode_s"], 1), "contact_off": dec["contact_off"], "new_poses": dec["new_poses"]}
        return score_row(name, dec["rgb"], dec["depth"], cfgs, tau_db, timing, note)

    def grid_siren_row():
        done = next((r for r in out_rows if r["row"] == "default" and "error" not in r), None)
        if done is not None and "grid-siren + mdn-window" in done["note"]:
            # run's defaults are grid-siren + the default behavior at run's budget: the same row, not trained twice
            return {**done, "row": "grid-siren", "note": "same settings as the default row (its scores)",
                    **{k: None for k in ("capture_s", "train_s", "rollout_s", "decode_s", "total_s")}}
        # with an embedding-space behavior (object-walk states need object layers to decode)
        behavior = ["--behavior", "mdn-window"] if "--behavior" in train_flags() else []

        def train(wd):
            return cli(["train", wd, "--generator", "grid-siren", *behavior, *budget], args.threads, log)[1]
        return trained_row("grid-siren", train, note=f"grid-siren + {'mdn-window' if behavior else 'behavior default'}"
                                                     ", run's step budget")

    def original_row():
        flags = train_flags()

        def train(wd):
            if "--behavior" in flags:
                return cli(["train", wd, "--generator", "original-siren", "--behavior", "original-vae", *budget],
                           args.threads, log)[1]
            # the train command has no behavior choice: the same stage through the Python API
            return python(TRAIN_ORIGINAL, [wd, defaults["generator_steps"], defaults["behavior_epochs"]],
                          args.threads, log)
        return trained_row("original", train, ["--anchor", 0.1], "original-siren + original-vae, anchor 0.1")

    def video_texture_row():
        if not (dflt / "model").exists():
            raise CommandFailed("needs the default row's model (run the 'default' row too)")
        dec = rollout_and_decode(dflt, "video-texture", args, size, log, ["--video-texture"])
        timing = {"rollout_s": round(dec["rollout_s"], 1), "decode_s": round(dec["decode_s"], 1)}
        return score_row("video-texture", dec["rgb"], dec["depth"], cfgs, tau_db, timing,
                         "observed frames walked, decoded by the default generator")

    def relational_row():
        def train(wd):
            return cli(["train", wd, "--behavior", "relational", *budget], args.threads, log)[1]
        return trained_row("relational", train, note="object-layers + relational (core/models/relational)")

    def walk_row():   # the object walk by name, whatever run's default behavior is
        def train(wd):
            return cli(["train", wd, "--behavior", "object-walk", *budget], args.threads, log)[1]
        return trained_row("walk", train, note="object-layers + object-walk (core/models/object_walk.py)")

    def crossfade_row():
        labels = fm.group_configurations(truth.rgb[:args.frames])
        fades = fm.cross_fades(truth.rgb[:args.frames], args.count * args.steps, seed=0, labels=labels)
        return score_row("crossfade", fades, None, cfgs, tau_db, note="50/50 blends of two captured frames")

    def ceiling_row():
        unseen = ~cfgs.captured
        return score_row("ceiling", cfgs.rgb[unseen], cfgs.depth[unseen], cfgs, tau_db,
                         note="real renders of the never-captured configurations")

    # cheap rows first, so a stopped run has them
    attempt("crossfade", crossfade_row)
    attempt("ceiling", ceiling_row)
    attempt("default", default_row)
    attempt("relational", relational_row)
    import bench_relational_world   # issues 19 + 20: free poses through the 3-D composer, the re-render oracle
    attempt("relational+world", lambda: bench_relational_world.relational_world_row(
        shot, dflt, blend, args, size, engine, log, cli, python, rollout_and_decode, score_row, cfgs, tau_db, budget))
    attempt("walk", walk_row)
    attempt("video-texture", video_texture_row)
    attempt("grid-siren", grid_siren_row)
    attempt("original", original_row)
    import bench_regions
    for name in ("footage-frames", "footage-regions"):
        attempt(name, lambda name=name: bench_regions.footage_rows(
            name, truth, shot, size, args, log, cli, python, rollout_and_decode, score_row, cfgs, tau_db))
    return {"shot": info, "rows": out_rows, "_truth": truth, "_cfgs": cfgs}


def bench_footage(size: str, args, work: Path, defaults: dict, log: Path) -> dict:
    row = {"row": "footage", "engine": "-", "size": size}
    if not FOOTAGE.exists():
        return {**row, "error": f"no footage at {FOOTAGE}"}
    base = work / f"footage_{size}"
    shutil.rmtree(base, ignore_errors=True)
    try:
        _, t_cap = cli(["capture", "--images", FOOTAGE, "--out", base / "shot", "--frames", f"1-{args.frames}",
                        "--resolution", size], args.threads, log)
        cli(["capture", "--images", FOOTAGE, "--out", base / "all", "--resolution", size], args.threads, log)
        _, t_train = cli(["train", base / "shot", "--generator-steps", defaults["generator_steps"],
                          "--behavior-epochs", defaults["behavior_epochs"]], args.threads, log)
        dec = rollout_and_decode(base / "shot", "default", args, size, log)
    except CommandFailed as err:
        return {**row, "error": str(err)}
    from alive_blender.core.workdir.dataset import load_capture
    real = load_capture(base / "all").rgb
    s = fm.score_footage(dec["rgb"], real)
    import bench_regions
    s.update(bench_regions.seam_scores(base / "shot", "default"))
    return {**row, **s, "capture_s": round(t_cap, 1), "train_s": round(t_train, 1),
            "rollout_s": round(dec["rollout_s"], 1), "decode_s": round(dec["decode_s"], 1),
            "note": f"{len(real)} real frames, first {args.frames} captured; tau among real frames; "
                    f"train's default generator at run's step budget"}


def fmt(v, pct=False, digits=1):
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    if pct:
        return f"{100 * v:.1f}%"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


COLUMNS = ["engine", "size", "row", "tau", "psnr", "real", "novel", "reached", "new", "depth err",
           "capture", "train", "rollout", "decode", "contact off", "new poses"]


def table(shots, footage) -> str:
    lines = [COLUMNS]
    for sh in shots:
        info = sh["shot"]
        for r in sh["rows"]:
            lead = [info["engine"], info["size"], r["row"]]
            if "error" in r:
                lines.append(lead + [r["error"]])
                continue
            lines.append(lead + [fmt(r["tau"]), fmt(r["psnr_median"]), fmt(r["real"], True),
                                 fmt(r["novel_real"], True), str(r["reached"]),
                                 f"{r['new_reached']}/{r['configurations'] - r['captured_configurations']}",
                                 fmt(r["depth_error"], True), fmt(r.get("capture_s")), fmt(r.get("train_s")),
                                 fmt(r.get("rollout_s")), fmt(r.get("decode_s")), fmt(r.get("contact_off"), True),
                                 fmt(r.get("new_poses"), True)])
    for r in footage:
        lead = ["footage", r["size"], r.get("row", "footage")]
        if "error" in r:
            lines.append(lead + [r["error"]])
            continue
        lines.append(lead + [fmt(r["tau"]), fmt(r["psnr_median"]), fmt(r["real"], True), "-", str(r["reached"]),
                             "-", "-", fmt(r.get("capture_s")), fmt(r.get("train_s")), fmt(r.get("rollout_s")),
                             fmt(r.get("decode_s")), "-", "-"])
    full = [l for l in lines if len(l) == len(COLUMNS)]
    widths = [max(len(l[i]) for l in full) for i in range(len(COLUMNS))]
    out = []
    for l in lines:
        if len(l) != len(COLUMNS):
            out.append("  ".join(c.ljust(w) for c, w in zip(l[:3], widths)) + "  " + l[3])
        else:
            out.append("  ".join(c.rjust(w) if i > 2 else c.ljust(w) for i, (c, w) in enumerate(zip(l, widths))))
    return "\n".join(out)


def contact_sheet(shot: dict, path: Path, per_row: int = 8, scale: int = 0) -> None:
    """Captured frames on top; then per model row its invented frames over their nearest real configuration."""
    from PIL import Image, ImageDraw
    truth, cfgs = shot["_truth"], shot["_cfgs"]
    h, w = truth.rgb.shape[1:3]
    scale = scale or max(1, 128 // w)
    label_w = 110
    strips = []

    def strip(frames, label, captions=None):
        frames = [np.asarray(f if f.dtype == np.uint8 else np.round(np.clip(f, 0, 1) * 255), np.uint8)
                  for f in frames]
        img = Image.new("RGB", (label_w + per_row * w * scale, h * scale + 12), (255, 255, 255))
        draw = ImageDraw.Draw(img)
        draw.text((4, 4), label, fill=(0, 0, 0))
        for k, f in enumerate(frames[:per_row]):
            x = label_w + k * w * scale
            img.paste(Image.fromarray(f).resize((w * scale, h * scale), Image.NEAREST), (x, 0))
            if captions:
                draw.text((x + 2, h * scale), captions[k], fill=(0, 0, 0))
        strips.append(img)

    shown = np.linspace(0, args_frames(shot) - 1, per_row).astype(int)
    strip(truth.rgb[shown], "captured", [f"frame {i + 1}" for i in shown])
    for r in shot["rows"]:
        if "_scores" not in r or r["row"] == "ceiling" or r.get("note", "").startswith("same settings"):
            continue
        s, rgb = r["_scores"], r["_rgb"]
        if "_oracle" in r:   # scored by the re-render oracle (bench_relational_world.py): over Blender's render
            j = np.linspace(0, len(r["_pick"]) - 1, per_row).astype(int)
            strip(rgb[r["_pick"][j]], f"{r['row']}\ninvented", [f"{r['_own_psnr'][i]:.1f}dB" for i in j])
            strip(r["_oracle"][j], "Blender render\nof its poses")
            continue
        pick = np.linspace(0, len(rgb) - 1, per_row).astype(int)
        strip(rgb[pick], f"{r['row']}\ninvented",
              [f"{s.psnr[i]:.1f}dB{' R' if s.real[i] else ''}{'N' if s.novel_real[i] else ''}" for i in pick])
        strip(cfgs.rgb[s.match[pick]], "nearest real",
              [("captured" if cfgs.captured[s.match[i]] else "NEW") for i in pick])
    sheet = Image.new("RGB", (strips[0].width, sum(s.height for s in strips) + 4 * len(strips)), (200, 200, 200))
    y = 0
    for s in strips:
        sheet.paste(s, (0, y))
        y += s.height + 4
    sheet.save(path, optimize=True)


def args_frames(shot) -> int:
    return shot["shot"].get("frames", 64)


def public(obj):
    if isinstance(obj, dict):
        return {k: public(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, list):
        return [public(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="64x48,256x192", help="comma-separated WxH (default: 64x48,256x192)")
    p.add_argument("--engine", default="WORKBENCH,CYCLES", help="comma-separated: WORKBENCH, CYCLES, EEVEE")
    p.add_argument("--rows", default=",".join(ALL_ROWS), help=f"comma-separated, of {','.join(ALL_ROWS)}")
    p.add_argument("--frames", type=int, default=64, help="captured frames (the shot: 1..N)")
    p.add_argument("--periods", default="12,17", help="the two objects' periods (coprime)")
    p.add_argument("--circle", action="store_true", help="the second object circles instead of swinging "
                                                        "(no symmetric path: every frame is its own configuration)")
    p.add_argument("--scene", default="combination", choices=["combination", "carried", "rig", "collision"],
                   help="combination (independent objects) or an interaction scene (blender/interaction_scenes.py)")
    p.add_argument("--count", type=int, default=8, help="rollout variations")
    p.add_argument("--steps", type=int, default=200, help="steps per variation")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for torch and Blender (default 2)")
    p.add_argument("--keep", default="", metavar="DIR", help="work in DIR and keep it (the ground-truth "
                                                              "captures are then reused by later runs)")
    p.add_argument("--generator-steps", type=int, default=0,
                   help="generator steps of every trained row (default 0: run's default, read from its parser)")
    p.add_argument("--behavior-epochs", type=int, default=0, help="behavior epochs (default 0: run's default)")
    p.add_argument("--reuse", action="store_true", help="with --keep: use the models an earlier run left in DIR "
                                                            "(no train timing) instead of training again; the "
                                                            "moving-camera and dolly rows also reuse their "
                                                            "rollouts and oracle renders (only composed again)")
    p.add_argument("--json", default="", metavar="OUT", help="also write the results as JSON")
    p.add_argument("--contact-sheet", default="", metavar="PNG",
                   help="captured / invented / nearest real configuration, for the first engine and size "
                        "(moving-camera: one sheet per engine and size, PNG_moving_camera[_ENGINE_SIZE].png)")
    args = p.parse_args(argv)
    args.periods = tuple(int(x) for x in args.periods.split(","))
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = set(rows) - set(ALL_ROWS)
    if unknown or len(args.periods) != 2 or np.gcd(*args.periods) != 1:
        p.error(f"unknown rows {sorted(unknown)}" if unknown else "--periods needs two coprime numbers")
    sizes = [s.strip() for s in args.size.split(",") if s.strip()]
    engines = [e.strip().upper() for e in args.engine.split(",") if e.strip()]
    defaults = run_defaults()
    if args.generator_steps:  # a smaller budget than run's (a loaded machine); the table says so
        defaults["generator_steps"] = args.generator_steps
    if args.behavior_epochs:
        defaults["behavior_epochs"] = args.behavior_epochs
    load_before = os.getloadavg()[0]
    t_start = time.monotonic()
    tmp = None
    if args.keep:
        work = Path(args.keep).absolute()
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="alive-bench-")
        work = Path(tmp.name)
    log = work / "bench.log"
    shots, footage = [], []
    try:
        blend = work / "combination.blend"
        python(MAKE_SCENE, [blend, *args.periods, "0" if args.circle else "1", args.scene], args.threads, log)
        scene_rows = [r for r in rows if r not in ("footage", "moving-camera", "dolly")]
        for engine in engines if scene_rows else []:
            for size in sizes:
                shot = bench_shot(engine, size, args, scene_rows, work, defaults, log)
                shot["shot"]["frames"] = args.frames
                shots.append(shot)
                print(table([shot], []), file=sys.stderr)
                if len(shots) == 1 and args.contact_sheet:
                    try:
                        contact_sheet(shot, Path(args.contact_sheet))
                    except Exception as err:  # a picture must not cost the measurements
                        print(f"bench: contact sheet failed: {err!r}", file=sys.stderr)
                if args.json:  # partial results survive a stopped bench
                    Path(args.json).write_text(json.dumps(public({"shots": shots, "partial": True}), indent=2))
        if "footage" in rows:
            for size in sizes:
                footage.append(bench_footage(size, args, work, defaults, log))
        if "footage-frames" in rows and FOOTAGE.exists():   # real footage: whole frames vs regions
            import bench_regions
            for size in sizes:
                try:
                    footage += bench_regions.real_footage_rows(FOOTAGE, size, args, work, log, cli, python,
                                                               rollout_and_decode)
                except CommandFailed as err:
                    footage.append({"row": "footage-regions", "size": size, "error": str(err)})
        moving = []
        # issue 19: a panning ("moving-camera") or dollying camera, scored by the re-render oracle
        for move in [m for m in ("moving-camera", "dolly") if m in rows]:
            import bench_world
            for engine in engines:
                for size in sizes:
                    moving.append(bench_world.bench_moving_camera(args, work, log, cli, python, size, engine,
                                                                  move="pan" if move == "moving-camera" else move))
                    print(bench_world.table(moving[-1]), file=sys.stderr)
                    if args.contact_sheet:   # one sheet per shot: the first of each move as before, the others
                        first = sum(m["move"] == moving[-1]["move"] for m in moving) == 1   # by engine and size
                        name = "_moving_camera" if move == "moving-camera" else f"_{move}"
                        tag = "" if first else f"_{engine.lower()}_{size}"
                        bench_world.contact_sheet(moving[-1], Path(args.contact_sheet).with_name(
                            Path(args.contact_sheet).stem + f"{name}{tag}.png"))
        conditions = {"threads": args.threads, "cpus_visible": os.cpu_count(), "loadavg_before": round(load_before, 2),
                      "loadavg_after": round(os.getloadavg()[0], 2), "frames": args.frames,
                      "periods": list(args.periods), "swing": not args.circle, "scene": args.scene, "count": args.count,
                      "steps": args.steps, "budget": {k: defaults[k] for k in ("generator_steps", "behavior_epochs", "samples")},
                      "budget_is_run_default": not (args.generator_steps or args.behavior_epochs),
                      "seconds": round(time.monotonic() - t_start, 1)}
        print(table(shots, footage))
        for shot in moving:
            print(bench_world.table(shot))
        for sh in shots:
            print(f"{sh['shot']['engine']} {sh['shot']['size']}: {json.dumps(public(sh['shot']))}")
            for r in sh["rows"]:
                if r.get("total_s") is not None:
                    print(f"  {r['row']}: capture+train+rollout+decode {r['total_s']:.1f} s (target "
                          f"{TARGET_S:.0f} s at 64x48: {'met' if r['total_s'] <= TARGET_S else 'NOT met'})")
        for r in [r for sh in shots for r in sh["rows"]] + footage:   # scripts/bench_regions.py
            if r.get("seam_total") is not None:
                print(f"  seams {r['row']} ({r['regions']} region(s)): spatial {r['seam_spatial']:.5f}, temporal "
                      f"{r['seam_temporal']:.5f}, total {r['seam_total']:.5f} per pixel per frame")
        print(f"conditions: {json.dumps(conditions)}")
        if args.json:
            Path(args.json).write_text(json.dumps(public({"shots": shots, "footage": footage, "moving_camera": moving,
                                                          "conditions": conditions}), indent=2))
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
