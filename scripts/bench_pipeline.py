#!/usr/bin/env python3
"""Wall time of each stage of `alive run`, on the demo scene and on real footage.

    python scripts/bench_pipeline.py [--frames 48] [--resolution 128x96] [--threads 2]
                                     [--device auto] [--json PATH] [-- extra run flags]

Demo: the built-in demo scene (48 frames) saved as a .blend, then
`python -m alive_blender --json run` on it; the per-stage times come from the
run's own result (`timings`), the total is the whole process (start, bpy
import, open, every stage, save).

Footage: /work/shared/data/pedestrians (PNG frames) through
`capture --images` when this build has it, then encode, train, rollout and
decode (bake needs a scene; it is not part of the footage row). When the
capture command has no footage input the row says so.

Threads: torch and Blender get --threads CPU threads (default 2: the target
machine). Target: the whole run of a 48-frame 128x96 shot under 3 minutes on
2 CPU cores, under 30 s on a GPU. The result says whether it was met; the
machine's load average is recorded, since a shared machine slows everything.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOOTAGE = Path(os.environ.get("ALIVE_FOOTAGE", "/work/shared/data/pedestrians"))
STAGES = ["capture", "encode", "train", "rollout", "decode", "bake", "preview"]
TARGET_CPU_S, TARGET_GPU_S = 180.0, 30.0


RUN_DEFAULT_STEPS = 500   # `alive run`'s --generator-steps default

def env_for(threads: int) -> dict:
    n = str(threads)
    return dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", OMP_NUM_THREADS=n, MKL_NUM_THREADS=n)


def cli(args, threads, timeout=3600):
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "alive_blender", "--json", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(threads), cwd=ROOT)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:  # the bench was stopped: stop the run at its safe point too
            proc.terminate()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), time.monotonic() - t0


def make_demo_blend(path: Path, frames: int, width: int, height: int, threads: int) -> None:
    code = f"""
import bpy, sys
from alive_blender.blender.demo_scene import build_demo_scene
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = build_demo_scene(frames={frames}, width={width}, height={height})
for s in [s for s in bpy.data.scenes if s != scene]:
    bpy.data.scenes.remove(s)
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
"""
    res = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                         env=env_for(threads), cwd=ROOT)
    if res.returncode != 0:
        raise SystemExit(f"bench: could not build the demo scene:\n{res.stderr[-2000:]}")


def bench_demo(tmp: Path, args, extra) -> dict:
    blend = tmp / "demo.blend"
    make_demo_blend(blend, args.frames, args.width, args.height, args.threads)
    steps = ["--generator-steps", str(args.generator_steps)] if args.generator_steps else []
    res, total = cli(["run", blend, "--out", tmp / "demo_work", "--frames", f"1-{args.frames}", "--resolution",
                      f"{args.width}x{args.height}", "--device", args.device, *steps, *extra], args.threads)
    if res.returncode != 0:
        return {"name": "demo scene", "error": res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "failed"}
    out = json.loads(res.stdout)
    row = {"name": "demo scene", "stages": out.get("timings", {}), "total": round(total, 1),
           "psnr": out["train"].get("train_psnr"), "steps": out["train"].get("generator_steps"),
           "device": out["train"].get("device"), **_rates(out["train"])}
    return row


def _rates(train: dict) -> dict:
    steps, secs = train.get("generator_steps") or 0, train.get("generator_seconds") or 0.0
    return {"generator_s_per_step": round(secs / steps, 4) if steps else None,
            "behavior_seconds": train.get("behavior_seconds")}


def capture_has_footage() -> bool:
    try:
        sys.path.insert(0, str(ROOT))
        import argparse as ap
        import importlib
        mod = importlib.import_module("alive_blender.cli.cmd_capture")
        p = ap.ArgumentParser()
        mod.add_parser(p.add_subparsers())
        return "--images" in p._subparsers._group_actions[0].choices["capture"]._option_string_actions
    except Exception:
        return False


STAGE_SCRIPT = r"""
import json, sys, time
from alive_blender.core.run import stages
wd, device = sys.argv[1], sys.argv[2]
gen, beh, ro = json.loads(sys.argv[3]), json.loads(sys.argv[4]), json.loads(sys.argv[5])
t = {}
t0 = time.monotonic(); stages.encode(wd, {}, device); t['encode'] = time.monotonic() - t0
t0 = time.monotonic(); r = stages.train(wd, gen, beh, device); t['train'] = time.monotonic() - t0
t0 = time.monotonic(); stages.rollout(wd, ro, device=device); t['rollout'] = time.monotonic() - t0
t0 = time.monotonic(); stages.decode_rollout(wd, device=device); t['decode'] = time.monotonic() - t0
print('RESULT' + json.dumps({'timings': t, 'train': r}))
"""


def bench_footage(tmp: Path, args) -> dict:
    row = {"name": f"footage ({FOOTAGE.name})"}
    if not FOOTAGE.exists():
        return {**row, "error": f"no footage at {FOOTAGE}"}
    if not capture_has_footage():
        return {**row, "error": "not measured: this build's `capture` has no --images/--movie input yet"}
    work = tmp / "footage_work"
    t_start = time.monotonic()
    res, t_cap = cli(["capture", "--images", FOOTAGE, "--out", work, "--frames", f"1-{args.frames}",
                      "--resolution", f"{args.width}x{args.height}"], args.threads)
    if res.returncode != 0:
        return {**row, "error": "capture failed: " + (res.stderr.strip().splitlines() or ["?"])[-1]}
    gen = {"steps": args.generator_steps or RUN_DEFAULT_STEPS, "seed": 0}
    beh = {"epochs": args.behavior_epochs, "seed": 0}
    ro = {"steps": max(1, args.frames - 1), "count": 1, "seed": 0}
    res = subprocess.run([sys.executable, "-c", STAGE_SCRIPT, str(work), args.device, json.dumps(gen),
                          json.dumps(beh), json.dumps(ro)], capture_output=True, text=True,
                         env=env_for(args.threads), cwd=ROOT)
    if res.returncode != 0 or "RESULT" not in res.stdout:
        return {**row, "error": "stages failed: " + (res.stderr.strip().splitlines() or ["?"])[-1]}
    out = json.loads(res.stdout.split("RESULT", 1)[1])
    stages = {"capture": round(t_cap, 3), **{k: round(v, 3) for k, v in out["timings"].items()}}
    return {**row, "stages": stages, "total": round(time.monotonic() - t_start, 1),
            "psnr": out["train"].get("train_psnr"), "steps": out["train"].get("generator_steps"),
            "device": out["train"].get("device"), "note": "no bake (footage has no scene)", **_rates(out["train"])}


def table(rows) -> str:
    head = ["input"] + STAGES + ["total s", "steps", "PSNR", "device"]
    lines = [head]
    for r in rows:
        if "error" in r:
            lines.append([r["name"], r["error"]])
            continue
        st = r["stages"]
        lines.append([r["name"]] + [f"{st[s]:.1f}" if s in st else "-" for s in STAGES] +
                     [f"{r['total']:.1f}", str(r.get("steps")), f"{r.get('psnr')}", str(r.get("device"))])
    widths = [max(len(l[i]) for l in lines if len(l) == len(head)) for i in range(len(head))]
    out = []
    for l in lines:
        if len(l) != len(head):
            out.append(f"{l[0]:<{widths[0]}}  {l[1]}")
        else:
            out.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(l, widths))))
    return "\n".join(out)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--resolution", default="128x96")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for torch and Blender (default 2)")
    p.add_argument("--device", default="auto")
    p.add_argument("--generator-steps", type=int, default=0,
                   help="generator steps (default: run's default; a smaller number plus the measured time per "
                        "step gives a projection for the default)")
    p.add_argument("--behavior-epochs", type=int, default=150)
    p.add_argument("--skip", action="append", default=[], choices=["demo", "footage"])
    p.add_argument("--json", default="", metavar="PATH", help="also write the results as JSON")
    args = p.parse_args(argv)
    args.width, args.height = map(int, args.resolution.lower().split("x"))
    load_before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="alive-bench-") as tmp:
        tmp = Path(tmp)
        if "demo" not in args.skip:
            rows.append(bench_demo(tmp, args, extra))
        if "footage" not in args.skip:
            rows.append(bench_footage(tmp, args))
    gpu = any(r.get("device", "").startswith("cuda") for r in rows)
    target = TARGET_GPU_S if gpu else TARGET_CPU_S
    default_steps = RUN_DEFAULT_STEPS
    for r in rows:
        if "total" in r:
            r["target_s"] = target
            r["meets_target"] = r["total"] <= target
            if r.get("steps") and r["steps"] != default_steps and r.get("generator_s_per_step"):
                r["projected_total_at_default_steps"] = round(
                    r["total"] + (default_steps - r["steps"]) * r["generator_s_per_step"], 1)
    conditions = {"threads": args.threads, "cpus_visible": os.cpu_count(), "loadavg_before": round(load_before, 2),
                  "loadavg_after": round(os.getloadavg()[0], 2), "frames": args.frames,
                  "resolution": args.resolution, "extra_run_flags": extra, "python": sys.version.split()[0]}
    print(table(rows))
    print(f"\nconditions: {json.dumps(conditions)}")
    for r in rows:
        if "total" in r:
            print(f"{r['name']}: {r['total']:.1f} s ({r['steps']} generator steps at "
                  f"{r['generator_s_per_step']} s/step, "
                  f"behavior {r['behavior_seconds']} s), target {target:.0f} s: "
                  f"{'met' if r['meets_target'] else 'NOT met'}")
            if "projected_total_at_default_steps" in r:
                print(f"  projected with the default {default_steps} steps: {r['projected_total_at_default_steps']} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "conditions": conditions}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
