#!/usr/bin/env python3
"""Long rollouts and the seed's controls, measured on an interaction scene (issue 20).

    python scripts/bench_drift.py [--scene carried] [--work DIR] [--steps 10000] [--window 1000]
                                  [--every 5] [--threads 1] [--json OUT]

Uses a ``scripts/bench_alive.py --keep DIR`` work folder (its ground truth of every configuration
and its trained object-walk row (``walk``, or ``default`` where that is the walk) and ``relational``
row, told apart by their train.json); where DIR lacks them, it runs ``bench_alive.py --scene SCENE
--rows default,walk,relational --keep DIR`` first (64x48, Workbench).

1. **Drift**: each behavior rolls ``--steps`` steps (``alive rollout``, one variation, the CLI's
   defaults); the composed frames of the first ``--window`` steps and of the last ``--window`` are
   scored with ``core/frame_metrics.py`` (real: PSNR to the nearest real configuration >= tau).
   Every ``--every``-th frame of each window is composed and scored (the rollout itself is every step).
2. **Controls** (``core/stepping.StepControls`` through each behavior's stepper, as a live session
   drives it; 8 variations from captured frame 0, anchor 0.1 unless said):
   - diversity per temperature (0, 0.5, 1, 2) over 200 steps: mean pairwise distance of the
     variations' object positions (scene units, averaged over steps and objects), and distinct
     (source sample per object) tuples shown;
   - anchor 1.0 against 0.1: share of steps whose joint state (every object's pose) equals one
     captured frame's joint state;
   - loop (the loop weight ramps to 1 over the last quarter of 200 steps, as the relational rollout
     ramps it), through the stepper and through ``alive rollout --loop`` (``cli_loop_*``): PSNR of
     the composed last frame to the composed start frame, against tau;
   - a per-object goal (the captured position of that object farthest from its start), 96 steps with
     the goal set: share of the way covered at step 48, at best within 48 steps, at worst over steps
     48-96, and the share of runs that are halfway within 48 steps and stay so to step 96 (target: all).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from alive_blender.core import frame_metrics as fm  # noqa: E402

BEHAVIORS = {"walk": ("walk", "default"), "relational": ("relational", "default")}   # label -> row folders to try
BEHAVIOR_ARCH = {"walk": "object-walk", "relational": "relational"}
TEMPERATURES = (0.0, 0.5, 1.0, 2.0)


def shot_folder(work: Path) -> Path:
    return work / "workbench_64x48"


def trained_as(wd: Path) -> str:
    """The behavior a bench row's model was trained with (its train.json), '' when none."""
    info = wd / "model" / "train.json"
    return json.loads(info.read_text()).get("behavior", "") if info.exists() else ""


def row_folder(shot: Path, label: str):
    """The bench row folder holding ``label``'s behavior (the named row, or the default row where run's
    default is that behavior: the walk before the relational behavior became the default), or None."""
    return next((shot / r for r in BEHAVIORS[label] if trained_as(shot / r) == BEHAVIOR_ARCH[label]), None)


def ensure_work(args, log: Path) -> Path:
    shot = shot_folder(args.work)
    if all(row_folder(shot, b) is not None for b in BEHAVIORS) and (shot / "truth" / "capture" / "meta.json").exists():
        return shot
    print(f"bench_drift: no trained rows in {shot}: running bench_alive.py first", file=sys.stderr)
    cmd = [sys.executable, str(ROOT / "scripts" / "bench_alive.py"), "--scene", args.scene, "--size", "64x48",
           "--engine", "WORKBENCH", "--rows", "default,walk,relational", "--threads", str(args.threads),
           "--keep", str(args.work), "--count", "1", "--steps", "10"]
    with open(log, "a") as f:
        subprocess.run(cmd, check=True, stdout=f, stderr=f, cwd=ROOT)
    return shot


def load(wd: Path):
    """(behavior, generator, the stepper a live session would drive for them)."""
    from alive_blender.core.live.steppers import stepper_for
    from alive_blender.core.run import stages
    beh = stages.load_behavior(wd)
    gen = stages.load_generator(wd)
    return beh, gen, stepper_for(beh, gen)


def compose(gen, states: np.ndarray) -> np.ndarray:
    return np.asarray(gen.compose(np.asarray(states, np.int64))["rgb"], np.float32)


def drift(label: str, wd: Path, args, cfgs, tau_db, gen, log: Path) -> dict:
    import bench_alive
    out = wd / f"drift_{args.steps}.npy"
    t0 = time.monotonic()
    bench_alive.cli(["rollout", wd, "--steps", args.steps, "--count", 1, "--seed", 0, "--out", out],
                    args.threads, log)
    t_roll = time.monotonic() - t0
    states = np.load(out.with_suffix(".states.npy"))[0]          # (N+1, M); index 0 is the start
    n = len(states) - 1
    row = {"behavior": label, "steps": n, "rollout_s": round(t_roll, 1), "every": args.every}
    for name, lo, hi in (("first", 1, args.window + 1), ("last", n - args.window + 1, n + 1)):
        idx = np.arange(lo, hi, args.every)
        s = fm.score_frames(compose(gen, states[idx]), cfgs, tau_db=tau_db)
        summ = s.summary()
        row[f"{name}_real"] = summ["real"]
        row[f"{name}_psnr"] = summ["psnr_median"]
        row[f"{name}_reached"] = summ["reached"]
        row[f"{name}_scored"] = len(idx)
    return row


def roll(stepper, steps: int, seed: int, controls_at, start: int = 0):
    """(sources (steps+1, M), poses (steps+1, M, 4, 4)) of one variation; ``controls_at(t)`` gives step t's."""
    st = stepper.start(start, seed)
    src, poses = [st.sources.copy()], [np.asarray(st.poses, np.float64).copy()]
    for t in range(1, steps + 1):
        st = stepper.step(st, controls_at(t))
        src.append(np.asarray(st.sources).copy())
        poses.append(np.asarray(st.poses, np.float64).copy())
    return np.stack(src), np.stack(poses)


def captured_joint(stepper) -> np.ndarray:
    """(F, M, 4, 4): every captured frame's joint state, in slot order."""
    if hasattr(stepper, "beh"):                     # the relational stepper
        return np.asarray(stepper.beh.world, np.float64)
    return np.asarray(stepper.matrices, np.float64).transpose(1, 0, 2, 3)   # the walk's (M, F, 4, 4)


def cli_loop(wd: Path, gen, tau_db, args, log: Path) -> dict:
    """``alive rollout --loop`` (8 x 200): PSNR of each variation's composed last frame to its start."""
    import bench_alive
    out = wd / "drift_loop.npy"
    res, _ = bench_alive.cli(["rollout", wd, "--steps", 200, "--count", 8, "--seed", 0, "--loop", "--out", out],
                             args.threads, log)
    states = np.load(out.with_suffix(".states.npy"))
    first, last = compose(gen, states[:, 0]), compose(gen, states[:, -1])
    p = np.array([float(fm.psnr_from_mse(np.mean((a - b) ** 2))) for a, b in zip(first, last)])
    return {"cli_loop_end_psnr_min": float(p.min()), "cli_loop_end_psnr_median": float(np.median(p)),
            "cli_loop_within_tau": float(np.mean(p >= tau_db))}


def controls(label: str, wd: Path, gen, tau_db, args) -> dict:
    from alive_blender.core.stepping import StepControls
    _, _, stepper = load(wd)
    K, N = 8, 200
    out = {"behavior": label}
    for T in TEMPERATURES:
        runs = [roll(stepper, N, k, lambda t, T=T: StepControls(temperature=T, anchor=0.1)) for k in range(K)]
        pos = np.stack([p[1:, :, :3, 3] for _, p in runs])           # (K, N, M, 3)
        d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)        # (K, K, N, M)
        iu = np.triu_indices(K, 1)
        out[f"diversity_T{T:g}"] = float(d[iu].mean())
        out[f"source_tuples_T{T:g}"] = len({tuple(s) for src, _ in runs for s in src[1:].tolist()})
    joint = captured_joint(stepper)
    for a in (0.1, 1.0):
        hits = []
        for k in range(K):
            _, poses = roll(stepper, N, k, lambda t, a=a: StepControls(temperature=1.0, anchor=a))
            err = np.abs(poses[1:, None] - joint[None]).max(axis=(-1, -2, -3))   # (N, F)
            hits.append(err.min(axis=1) < 1e-5)
        out[f"captured_joint_share_anchor{a:g}"] = float(np.mean(hits))
    # the loop as the rollout stage closes it
    loop_steps = max(4, N // 4)
    target = stepper.start(0, 0)
    start_rgb = compose(gen, target.sources[None])[0]
    psnrs = []
    for k in range(K):
        src, _ = roll(stepper, N, k, lambda t: StepControls(
            temperature=1.0, anchor=0.1, loop_target=target,
            loop_weight=float(np.clip((t - (N - loop_steps)) / loop_steps, 0.0, 1.0))))
        last = compose(gen, src[-1:])[0]
        psnrs.append(float(fm.psnr_from_mse(np.mean((last - start_rgb) ** 2))))
    out["loop_end_psnr_min"] = float(np.min(psnrs))
    out["loop_end_psnr_median"] = float(np.median(psnrs))
    out["loop_within_tau"] = float(np.mean(np.asarray(psnrs) >= tau_db))
    # a goal per object: the captured position farthest from where it starts, 96 steps with the goal set
    covered_48, covered_best, covered_after, held = [], [], [], []
    for m in range(joint.shape[1]):
        p0 = joint[0, m, :3, 3]
        far = joint[:, m, :3, 3]
        goal = far[int(np.argmax(np.linalg.norm(far - p0, axis=1)))]
        d0 = float(np.linalg.norm(goal - p0))
        if d0 < 1e-3:   # an object that only turns (the spinner): no position to head for
            continue
        for k in range(4):
            _, poses = roll(stepper, 96, k, lambda t: StepControls(temperature=1.0, anchor=0.1, goals={m: goal}))
            covered = 1.0 - np.linalg.norm(poses[:, m, :3, 3] - goal, axis=1) / d0     # (97,)
            covered_48.append(covered[48])
            covered_best.append(covered[:49].max())
            covered_after.append(covered[48:].min())
            half = np.flatnonzero(covered >= 0.5)
            held.append(bool(len(half) and half[0] <= 48 and (covered[half[0]:] >= 0.5).all()))
    out["goal_covered_step48_min"] = float(np.min(covered_48))
    out["goal_covered_best48_min"] = float(np.min(covered_best))
    out["goal_covered_steps48to96_min"] = float(np.min(covered_after))
    out["goal_halfway_and_held_share"] = float(np.mean(held))
    out["goal_runs"] = len(covered_48)
    return out


def fmt(v, pct=False):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{100 * v:.1f}%" if pct else f"{v:.2f}"
    return str(v)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scene", default="carried", choices=["carried", "rig", "collision", "combination"])
    p.add_argument("--work", default="", help="a bench_alive.py --keep folder (default /tmp/alive-drift-SCENE)")
    p.add_argument("--steps", type=int, default=10000)
    p.add_argument("--window", type=int, default=1000, help="frames scored at the start and at the end")
    p.add_argument("--every", type=int, default=5, help="score every n-th frame of each window")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--skip-controls", action="store_true")
    p.add_argument("--json", default="")
    args = p.parse_args(argv)
    args.work = Path(args.work or f"/tmp/alive-drift-{args.scene}").absolute()
    args.work.mkdir(parents=True, exist_ok=True)
    import torch
    torch.set_num_threads(args.threads)
    log = args.work / "bench_drift.log"
    load_before = os.getloadavg()[0]
    t_start = time.monotonic()
    shot = ensure_work(args, log)
    from alive_blender.core.workdir.dataset import load_capture
    truth = load_capture(shot / "truth")
    frames = len(load_capture(row_folder(shot, "relational")).rgb)
    cfgs = fm.Configurations.from_renders(truth.rgb, truth.depth, truth.frames.astype(int),
                                          captured_frames=range(1, frames + 1))
    tau_db = fm.tau(cfgs)
    drift_rows, control_rows = [], []
    for label in BEHAVIORS:
        wd = row_folder(shot, label)
        _, gen, _ = load(wd)
        drift_rows.append(drift(label, wd, args, cfgs, tau_db, gen, log))
        print(json.dumps(drift_rows[-1]), file=sys.stderr)
        if not args.skip_controls:
            control_rows.append({**controls(label, wd, gen, tau_db, args), **cli_loop(wd, gen, tau_db, args, log)})
            print(json.dumps(control_rows[-1]), file=sys.stderr)
    print(f"drift: {args.scene}, {args.steps} steps, tau {tau_db:.2f} dB, every {args.every}th frame of the first "
          f"and last {args.window} scored")
    print("| behavior | first real | last real | first PSNR | last PSNR | first reached | last reached | rollout s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in drift_rows:
        print(f"| {r['behavior']} | {fmt(r['first_real'], True)} | {fmt(r['last_real'], True)} | "
              f"{fmt(r['first_psnr'])} | {fmt(r['last_psnr'])} | {r['first_reached']} | {r['last_reached']} | "
              f"{fmt(r['rollout_s'])} |")
    if control_rows:
        keys = [k for k in control_rows[0] if k != "behavior"]
        print("\n| control | " + " | ".join(r["behavior"] for r in control_rows) + " |")
        print("| --- |" + " --- |" * len(control_rows))
        for k in keys:
            print(f"| {k} | " + " | ".join(fmt(r[k], "share" in k or "covered" in k or "within" in k)
                                          for r in control_rows) + " |")
    conditions = {"threads": args.threads, "loadavg_before": round(load_before, 2),
                  "loadavg_after": round(os.getloadavg()[0], 2), "tau": round(tau_db, 2),
                  "seconds": round(time.monotonic() - t_start, 1), "scene": args.scene}
    print(f"conditions: {json.dumps(conditions)}")
    if args.json:
        from alive_blender.core.workdir.artifacts import write_json
        write_json(Path(args.json), {"drift": drift_rows, "controls": control_rows, "conditions": conditions})
    return 0


if __name__ == "__main__":
    sys.exit(main())
