#!/usr/bin/env python3
"""Live mode: per-tick latency, memory over a long session, realism at its start and end.

    python scripts/bench_live.py [--sizes 320x180,1280x720] [--behaviors walk,relational]
                                 [--device cpu[,cuda]] [--ticks 240] [--long-ticks 10000]
                                 [--capture 160x90] [--frames 64] [--periods 12,17] [--samples 4]
                                 [--threads 1] [--work DIR] [--json OUT] [--strip PNG]

The scene: the combination scene (``blender/combination_scene.py``, two objects
on coprime cyclic paths), the shot its first ``--frames`` frames, captured at
``--capture`` with Cycles; the ground truth every frame of one full cycle
(P1 x P2), grouped into configurations as in ``scripts/bench_alive.py``.
The work directory is trained with run's defaults (object-layers + the
behavior of the row).

Rows (sizes x behaviors x devices): ``--ticks`` ticks of ``live_tick``
(``blender/live/view.py``: step the session, compose image and points,
write them into the live points object and the card's image in the bpy
module), with a goal and a hold scripted in, reporting median / p95 / max
milliseconds of step, compose (+ points) and scene update, and of the whole
tick. ``walk`` is the object walk through ``core/live/steppers.WalkStepper``;
``relational`` runs when this branch has a behavior by that name (else the
row says so). ``--device cuda`` rows are ready for a GPU (refused here
without one).

The long session (the first size, first behavior): ``--long-ticks`` ticks;
memory (RSS) after 100 ticks and at the end, the slowest tick, and the
pixel-realism metric (``core/frame_metrics.py``: share of frames at least tau
dB from their nearest real configuration) of 200 frames sampled at its start
and 200 at its end, composed at the capture size.

``--strip``: frames of a steered session, before / during / after a goal
(the goal marked with a cross), e.g. docs/live_strip.png.
Timings on a shared machine are under load: compare rows of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_size(text):
    w, h = text.lower().split("x")
    return int(w), int(h)


def prepare(work: Path, args) -> tuple:
    """(shot workdir, truth Configurations, blend path); reused when present."""
    import bpy
    from alive_blender.blender.capture.render import CaptureSettings, capture
    from alive_blender.blender.combination_scene import build_combination_scene
    from alive_blender.core.frame_metrics import Configurations
    from alive_blender.core.models.encoder import EncoderSpec
    from alive_blender.core.run import stages
    from alive_blender.core.workdir.dataset import open_capture
    periods = tuple(int(p) for p in args.periods.split(","))
    W, H = parse_size(args.capture)
    shot, truth, blend = work / "shot", work / "truth", work / "scene.blend"
    cycle = periods[0] * periods[1]
    if not (truth / "capture" / "meta.json").exists() or not blend.exists():
        bpy.ops.wm.read_factory_settings(use_empty=True)
        scene = build_combination_scene(periods, W, H)
        for s in [s for s in bpy.data.scenes if s != scene]:
            bpy.data.scenes.remove(s)
        bpy.ops.wm.save_as_mainfile(filepath=str(blend))
        t0 = time.perf_counter()
        capture(scene, shot, CaptureSettings(frame_start=1, frame_end=args.frames, width=W, height=H,
                                             samples=args.samples))
        capture(scene, truth, CaptureSettings(frame_start=1, frame_end=cycle, width=W, height=H,
                                              samples=args.samples))
        print(f"captured {args.frames} + {cycle} frames at {W}x{H} in {time.perf_counter() - t0:.0f} s",
              file=sys.stderr)
    stages.encode(shot, EncoderSpec(), "cpu")
    cap = open_capture(truth).load()
    cfgs = Configurations.from_renders(cap.rgb, None, np.arange(1, cycle + 1), np.arange(1, args.frames + 1))
    return shot, cfgs, blend


def train_behavior(shot: Path, behavior: str):
    """Train (or reuse) the shot's models for a row's behavior; None when this branch lacks it."""
    from alive_blender.core.models.behavior import ARCHITECTURES
    from alive_blender.core.run import stages
    arch = {"walk": "object-walk"}.get(behavior, behavior)
    if arch not in ARCHITECTURES:
        return None
    stages.train(shot, {"arch": "object-layers", "seed": 0}, {"arch": arch, "seed": 0}, "cpu")
    return arch


def lat(ms) -> dict:
    from alive_blender.core.live.headless import latency
    return latency(ms)


def goal_on_path(session, name: str) -> list:
    """The farthest point of the object's own captured path from where it is now (a stepper that does
    not say its path: a metre along x from where the object is)."""
    slot = session.slot(name)
    path = getattr(session.stepper, "position", None)
    if path is None:
        return (session.frame.poses[slot, :3, 3] + [1.0, 0.0, 0.0]).tolist()
    path = path[slot]
    now = session.frame.poses[slot, :3, 3] if session.frame is not None else path[0]
    return path[np.argmax(np.linalg.norm(path - now, axis=1))].tolist()


def run_row(shot: Path, blend: Path, size, behavior: str, device: str, ticks: int, seed: int = 0) -> dict:
    import bpy
    from alive_blender.blender.live.view import LiveView, live_tick
    from alive_blender.core.live.session import LiveSession
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    session = LiveSession(shot, size, device, seed=seed)
    view = LiveView.create(bpy.context.scene, session)
    parts = {"step_ms": [], "compose_ms": [], "scene_ms": [], "tick_ms": []}
    names = session.object_names
    try:
        for t in range(ticks):
            inputs = None
            if t == ticks // 4:
                inputs = {"goal": {"object": names[0], "to": goal_on_path(session, names[0])}}
            elif t == ticks // 2 and len(names) > 1:
                inputs = {"hold": names[-1]}
            out = live_tick(view, session, inputs)
            tm = out["timings"]
            parts["step_ms"].append(tm["step_ms"])
            parts["compose_ms"].append(tm["compose_ms"] + tm["points_ms"])
            parts["scene_ms"].append(tm["scene_ms"])
            parts["tick_ms"].append(tm["tick_ms"])
        points = len(out["frame"].positions)
    finally:
        view.remove()
        bpy.ops.wm.read_factory_settings(use_empty=True)
    return {"size": f"{size[0]}x{size[1]}", "behavior": behavior, "device": device, "ticks": ticks,
            "points": points, **{k: lat(v) for k, v in parts.items()}}


def long_session(shot: Path, blend: Path, size, device: str, ticks: int, cfgs, sample: int = 200) -> dict:
    import bpy
    from alive_blender.blender.live.view import LiveView, live_tick
    from alive_blender.core.frame_metrics import score_frames
    from alive_blender.core.live.session import LiveSession, compose_state, rss_mb
    from alive_blender.core.stepping import StepState
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    session = LiveSession(shot, size, device, seed=1)
    view = LiveView.create(bpy.context.scene, session)
    first, last, worst, mem = [], [], 0.0, {}
    names = session.object_names
    t0 = time.perf_counter()
    try:
        for t in range(ticks):
            inputs = None
            if t % 1000 == 500:   # steer now and then, as a player would
                inputs = {"goal": {"object": names[t // 1000 % len(names)],
                                   "to": goal_on_path(session, names[t // 1000 % len(names)])}}
            elif t % 1000 == 800:
                inputs = {"goal": {"object": names[(t // 1000) % len(names)], "to": None}}
            out = live_tick(view, session, inputs)
            worst = max(worst, out["timings"]["tick_ms"])
            f = out["frame"]
            if t < sample:
                first.append(f.sources.copy())
            elif t >= ticks - sample:
                last.append(f.sources.copy())
            if t == 100:
                mem["after_100"] = rss_mb()
    finally:
        view.remove()
        bpy.ops.wm.read_factory_settings(use_empty=True)
    mem["end"] = rss_mb()
    secs = time.perf_counter() - t0

    def realism(states):
        rgb = np.stack([compose_state(session.generator, StepState(np.asarray(s), None), 0, 0)["rgb"]
                        for s in states])
        sc = score_frames(rgb, cfgs)
        return round(float(np.mean(sc.real)), 3), round(float(np.mean(sc.novel_real)), 3)

    (real0, novel0), (real1, novel1) = realism(first), realism(last)
    return {"size": f"{size[0]}x{size[1]}", "ticks": ticks, "seconds": round(secs, 1),
            "memory_mb": {k: round(v, 1) for k, v in mem.items()},
            "memory_growth_mb": round(mem["end"] - mem["after_100"], 1), "max_tick_ms": round(worst, 2),
            "realism_start": real0, "realism_end": real1, "novel_real_start": novel0, "novel_real_end": novel1}


def strip(shot: Path, path: Path, ticks=(0, 4, 8, 9, 10, 11, 24, 48), goal_tick: int = 8) -> dict:
    """Frames of a steered session at capture size: the goal is set at ``goal_tick`` (marked)."""
    from PIL import Image, ImageDraw
    from alive_blender.core.camera import project
    from alive_blender.core.live.session import LiveSession
    s = LiveSession(shot, (0, 0), "cpu", seed=3, points=False)
    name = s.object_names[0]
    frames, goal, dist = {}, None, {}
    for t in range(max(ticks) + 1):
        inputs = None
        if t == goal_tick:
            goal = goal_on_path(s, name)
            inputs = {"goal": {"object": name, "to": goal}}
        f = s.step(inputs)
        if goal is not None:
            dist[t] = float(np.linalg.norm(f.poses[s.slot(name), :3, 3] - np.asarray(goal)))
        if t in ticks:
            frames[t] = f.rgb
    H, W = frames[ticks[0]].shape[:2]
    scale = max(1, 160 // W)
    img = Image.new("RGB", (len(ticks) * W * scale, H * scale + 28), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    uv, _ = project(np.asarray(goal)[None], s.K, s.world_from_camera)
    u, v = uv[0, 0] * scale, uv[0, 1] * scale
    for k, t in enumerate(ticks):
        x = k * W * scale
        img.paste(Image.fromarray(frames[t]).resize((W * scale, H * scale),
                                                                                        Image.NEAREST), (x, 0))
        when = ("before" if t < goal_tick else "goal set" if t == goal_tick
                else "heading there" if dist[t] > 1e-3 else "there")
        label = f"{t}: {when}"
        if t >= goal_tick:
            draw.line([(x + u - 5, v - 5), (x + u + 5, v + 5)], fill=(255, 0, 0), width=2)
            draw.line([(x + u - 5, v + 5), (x + u + 5, v - 5)], fill=(255, 0, 0), width=2)
            label += f"  d={dist[t]:.2f}"
        draw.text((x + 3, H * scale + 2), label, fill=(0, 0, 0))
    draw.text((3, H * scale + 15), f"goal for '{name}' (red cross) at tick {goal_tick}: it heads there along "
                                   f"its captured path and stops", fill=(90, 0, 0))
    img.save(path, optimize=True)
    return {"object": name, "goal": goal, "distance": {int(k): round(v, 3) for k, v in dist.items()}}


def fmt(d):
    return f"{d['median']:7.2f} {d['p95']:7.2f} {d['max']:7.2f}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="320x180,1280x720")
    p.add_argument("--behaviors", default="walk,relational")
    p.add_argument("--device", default="cpu", help="comma-separated: cpu, cuda")
    p.add_argument("--ticks", type=int, default=240)
    p.add_argument("--long-ticks", type=int, default=10000, help="ticks of the long session (0: skip it)")
    p.add_argument("--capture", default="160x90", help="capture size of the shot (16:9, as the output sizes)")
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--periods", default="12,17")
    p.add_argument("--samples", type=int, default=4, help="Cycles samples of the capture")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--work", default="/tmp/bench_live", help="work folder (reused when it holds the captures)")
    p.add_argument("--json", default="")
    p.add_argument("--strip", default="")
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    shot, cfgs, blend = prepare(work, args)
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    devices = args.device.split(",")
    rows, missing = [], []
    for behavior in args.behaviors.split(","):
        if train_behavior(shot, behavior) is None:
            missing.append(behavior)
            continue
        for device in devices:
            if device == "cuda" and not torch.cuda.is_available():
                missing.append(f"{behavior} on cuda (no GPU here)")
                continue
            for size in sizes:
                rows.append(run_row(shot, blend, size, behavior, device, args.ticks))
                print(f"row {rows[-1]['behavior']} {rows[-1]['size']} {rows[-1]['device']}: "
                      f"p95 {rows[-1]['tick_ms']['p95']:.1f} ms", file=sys.stderr)
    load = os.getloadavg()
    print(f"\nlive ticks (ms, median / p95 / max; load average {load[0]:.1f}, {args.threads} torch thread(s))")
    print(f"{'behavior':<11} {'size':>9} {'device':>6} {'points':>7} | {'step':^23} | {'compose+points':^23} | "
          f"{'scene update':^23} | {'whole tick':^23}")
    for r in rows:
        print(f"{r['behavior']:<11} {r['size']:>9} {r['device']:>6} {r['points']:>7} | {fmt(r['step_ms'])} | "
              f"{fmt(r['compose_ms'])} | {fmt(r['scene_ms'])} | {fmt(r['tick_ms'])}")
    for m in missing:
        print(f"{m:<11} not run: not available on this branch/machine")
    result = {"rows": rows, "missing": missing, "load": load, "threads": args.threads,
              "capture": args.capture, "frames": args.frames, "periods": args.periods}
    if args.long_ticks > 0 and rows:
        train_behavior(shot, rows[0]["behavior"])
        lg = long_session(shot, blend, sizes[0], devices[0], args.long_ticks, cfgs)
        result["long"] = lg
        print(f"\nlong session: {lg['ticks']} ticks at {lg['size']} in {lg['seconds']} s; memory "
              f"{lg['memory_mb']['after_100']} -> {lg['memory_mb']['end']} MB (growth {lg['memory_growth_mb']} MB); "
              f"slowest tick {lg['max_tick_ms']} ms; realism start {lg['realism_start']:.3f} end "
              f"{lg['realism_end']:.3f} (novel-real {lg['novel_real_start']:.3f} / {lg['novel_real_end']:.3f})")
    if args.strip:
        train_behavior(shot, "walk")
        result["strip"] = strip(shot, Path(args.strip))
        print(f"\nstrip: {args.strip}: distance to the goal {result['strip']['distance']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
