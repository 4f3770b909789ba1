#!/usr/bin/env python3
"""Faults, measured: what a farm does to `alive run`, and whether anything is lost.

    python scripts/bench_faults.py [--kills 21] [--seed 0] [--json PATH] [--keep DIR]
                                   [--only kills,disk,concurrent,workers] [--stages rollout,save]
                                   [--rollout-frames N]

On a tiny scene (tests/conftest.py's save_tiny_scene with its TINY_RUN
settings: 6 frames at 24x16, 60 generator steps; a run takes seconds):

* kill -9: `alive run` on an empty work directory, killed at a random moment
  inside a chosen stage (render, encode, train, rollout, decode, bake, save:
  the stage's status line starts a timer drawn up to that stage's length in
  the reference run); the folder is checked for half-written files, then
  `alive run` again must finish, and its artifacts must equal those of an
  uninterrupted reference run;
* full disk: a file-size limit (RLIMIT_FSIZE, as `ulimit -f`: no root needed;
  writes fail with EFBIG as they would with ENOSPC) low enough to fail the
  capture, the training, or only the final save; each must exit 2 with one
  line, keep the earlier artifacts intact and leave no partial files; a run
  without the limit then finishes with the reference's output;
* two `alive run` on one work directory started together: one must refuse
  (exit 2, the lock) while the other finishes with the reference's output;
* a worker that hangs and one that floods its pipe (the add-on's `Job`): the
  job must end with a report within its stall limit, memory bounded, while
  the polling loop (what the panel's timer calls) stays responsive.

Equal means bit-identical for the deterministic artifacts (capture samples,
embeddings, model weights, rollout, decoded arrays, baked frame PNGs) and the
same scene content for the baked .blend (objects, point positions and
attributes, materials, images, keyframes: Blender writes memory addresses
into .blend files, so their bytes differ between any two saves). Timing
files (train.json, rollout.json, alive.json) hold wall times and are not
compared.

One table: what was tried, how many times, crashes (exit 1 or a traceback),
half-written files found, runs whose final output differed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from conftest import TINY_RUN, save_tiny_scene  # noqa: E402

# the stage a run is in, by the first line of it on stderr
MARKERS = [("render", "alive: capture:"), ("encode", "alive: encode:"), ("train", "alive: train:"),
           ("rollout", "alive: rollout:"), ("decode", "alive: decode:"), ("bake", "alive: bake "),
           ("save", "alive: done")]
STAGES = [s for s, _ in MARKERS]
SAVED = "alive: saved"   # the save is over; what follows is the interpreter's exit
# compared byte for byte (deterministic); the .blend is compared by content
EXACT = ["capture/samples/*.npz", "embed/embeddings.npy", "model/generator.safetensors",
         "model/behavior.safetensors", "model/manifest.json", "rollout/rollout.npy", "decoded/rgb.npy",
         "decoded/depth.npy", "decoded/alpha.npy", "alive_alive/*.png", "preview.png"]


def env() -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")


RUN_FLAGS = list(TINY_RUN)


def run_argv(scene: Path, work: Path) -> list[str]:
    return [sys.executable, "-m", "alive_blender", "run", str(scene), "--out", str(work), *RUN_FLAGS]


def start(argv, limit: int = 0) -> subprocess.Popen:
    pre = None
    if limit:
        def pre():
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env(), cwd=ROOT,
                            preexec_fn=pre)


def finish(argv, limit: int = 0, timeout: float = 600) -> tuple[int, str]:
    proc = start(argv, limit)
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def crashed(code: int, out: str) -> bool:
    return code == 1 or code < 0 or "Traceback" in out


# -- what a work directory holds ---------------------------------------------------

def loads(path: Path) -> bool:
    """Whether a file at a final name is complete (parses as what it claims to be)."""
    import numpy as np
    try:
        if path.suffix == ".npy":
            np.load(path, allow_pickle=False)
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                [z[k] for k in z.files]
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".png":
            from PIL import Image
            with Image.open(path) as im:
                im.load()
        elif path.suffix == ".safetensors":
            from safetensors.numpy import load_file
            load_file(str(path))
        elif path.suffix == ".pt":
            import torch
            torch.load(path, map_location="cpu", weights_only=True)
        elif path.suffix == ".blend":
            head = path.read_bytes()
            return head.startswith(b"BLENDER") and head[-32:].find(b"ENDB") >= 0
    except Exception:
        return False
    return True


def is_temp(path: Path) -> bool:
    return path.name.startswith(".") and (".tmp" in path.name or ".old-" in path.name)


def half_written(work: Path) -> list[Path]:
    """Files at final names that do not load (temporary names are not trusted by any stage)."""
    if not work.exists():
        return []
    return [p for p in work.rglob("*") if p.is_file() and not any(is_temp(q) for q in [p, *p.parents])
            and p.name != ".alive.lock" and not loads(p)]


def temps(work: Path) -> list[Path]:
    return [p for p in work.rglob(".*") if is_temp(p)] if work.exists() else []


def exact_digests(work: Path) -> dict:
    out = {}
    for pattern in EXACT:
        for p in sorted(work.glob(pattern)):
            out[str(p.relative_to(work))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


BLEND_DIGEST = r"""
import bpy, sys, hashlib, json
import numpy as np
bpy.ops.wm.open_mainfile(filepath=sys.argv[1], load_ui=False)
h = {}
def arr(coll, attr, n, dtype=np.float32):
    a = np.zeros(n, dtype)
    coll.foreach_get(attr, a)
    return hashlib.sha256(a.tobytes()).hexdigest()
for ob in sorted(bpy.data.objects, key=lambda o: o.name):
    h['ob ' + ob.name] = [ob.type, np.round(np.array(ob.matrix_world), 6).tolist(),
                          [m.type for m in ob.modifiers], ob.data.name if ob.data else None]
for me in bpy.data.meshes:
    d = {'verts': len(me.vertices)}
    for at in me.attributes:
        if at.name.startswith('.'):
            continue
        width = {'FLOAT_VECTOR': 3, 'FLOAT_COLOR': 4, 'BYTE_COLOR': 4, 'FLOAT2': 2,
                 'QUATERNION': 4}.get(at.data_type, 1)
        key = {'FLOAT_VECTOR': 'vector', 'FLOAT_COLOR': 'color', 'BYTE_COLOR': 'color', 'FLOAT2': 'vector',
               'INT': 'value', 'FLOAT': 'value', 'BOOLEAN': 'value'}.get(at.data_type)
        if key:
            dtype = np.int32 if at.data_type == 'INT' else (bool if at.data_type == 'BOOLEAN' else np.float32)
            d[at.name] = arr(at.data, key, len(at.data) * width, dtype)
    h['me ' + me.name] = d
for im in bpy.data.images:
    h['im ' + im.name] = [im.filepath, im.source, list(im.size)]
for m in bpy.data.materials:
    if m.node_tree:
        h['ma ' + m.name] = sorted((n.name, n.bl_idname) for n in m.node_tree.nodes)
for ng in bpy.data.node_groups:
    h['ng ' + ng.name] = sorted((n.name, n.bl_idname) for n in ng.nodes)
for a in bpy.data.actions:
    keys = []
    for layer in a.layers:
        for strip in layer.strips:
            for bag in strip.channelbags:
                for fc in bag.fcurves:
                    keys.append([fc.data_path, fc.array_index, [tuple(k.co) for k in fc.keyframe_points]])
    h['ac ' + a.name] = sorted(keys)
s = bpy.context.scene
h['scene'] = [s.name, s.frame_start, s.frame_end, s.camera.name if s.camera else None]
print('DIGEST' + hashlib.sha256(json.dumps(h, sort_keys=True, default=str).encode()).hexdigest())
"""


def blend_digest(path: Path) -> str:
    res = subprocess.run([sys.executable, "-c", BLEND_DIGEST, str(path)], capture_output=True, text=True, env=env(),
                         cwd=ROOT, timeout=300)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("DIGEST")]
    return lines[-1][6:] if lines else f"unreadable: {res.stderr[-300:]}"


def outputs(work: Path) -> dict:
    blend = work / "alive.blend"
    return {"exact": exact_digests(work), "blend": blend_digest(blend) if blend.exists() else None,
            "blend_bytes": hashlib.sha256(blend.read_bytes()).hexdigest() if blend.exists() else None}


def differs(a: dict, b: dict) -> list[str]:
    out = [k for k in sorted(set(a["exact"]) | set(b["exact"])) if a["exact"].get(k) != b["exact"].get(k)]
    if a["blend"] != b["blend"]:
        out.append("alive.blend (content)")
    return out


# -- the faults -------------------------------------------------------------------

def reference(scene: Path, work: Path) -> tuple[dict, dict]:
    """An uninterrupted run: its outputs, and when each stage's line appeared (s)."""
    proc = start(run_argv(scene, work))
    t0, seen = time.monotonic(), {}
    for line in proc.stdout:
        for stage, marker in MARKERS + [("saved", SAVED)]:
            if line.startswith(marker) and stage not in seen:
                seen[stage] = time.monotonic() - t0
    proc.wait()
    if proc.returncode != 0:
        raise SystemExit(f"reference run failed (exit {proc.returncode})")
    times = [seen[s] for s in STAGES] + [seen["saved"]]
    lengths = {s: max(0.02, times[i + 1] - times[i]) for i, s in enumerate(STAGES)}
    return outputs(work), lengths


def kill_during(scene: Path, work: Path, stage: str, delay: float) -> tuple[str, float]:
    """Start a run, wait for ``stage``'s line, sleep ``delay``, kill -9; returns
    the last stage the run had reached (from its output) and when it died."""
    proc = start(run_argv(scene, work))
    marker = dict(MARKERS)[stage]
    last, t0 = "start", time.monotonic()
    for line in proc.stdout:
        for s, m in MARKERS:
            if line.startswith(m):
                last = s
        if line.startswith(marker):
            break
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    rest, _ = proc.communicate()
    for line in rest.splitlines():
        for s, m in MARKERS:
            if line.startswith(m):
                last = s
        if line.startswith(SAVED):
            last = "exit"   # saved, tearing down
    if proc.returncode == 0:
        last = "none"       # finished before the kill: not counted as a kill
    return last, time.monotonic() - t0


def bench_kills(scene, base, ref, lengths, n, rng, rows, details, aim=STAGES):
    crashes = half = differed = 0
    where: dict = {}
    temp_left = 0
    i = killed = 0
    while killed < n and i < 2 * n:
        stage = aim[i % len(aim)]
        work = base / f"kill{i:02d}"
        # within the stage as the reference timed it (a loaded machine shifts it: where the
        # run really died is read from its output)
        delay = rng.uniform(0, 0.7 * lengths[stage])
        reached, _ = kill_during(scene, work, stage, delay)
        i += 1
        if reached == "none":
            print(f"  kill {i - 1:2d}: aimed at {stage}, the run finished first: not counted", file=sys.stderr)
            shutil.rmtree(work, ignore_errors=True)
            continue
        killed += 1
        where[reached] = where.get(reached, 0) + 1
        bad = half_written(work)
        temp_left += len(temps(work))
        code, out = finish(run_argv(scene, work))
        bad += half_written(work)
        leftover = temps(work)
        diff = differs(ref, outputs(work)) if code == 0 else ["run failed"]
        crashes += crashed(code, out)
        half += len(bad) + len(leftover)
        differed += bool(diff)
        details.append({"trial": i - 1, "aimed_at": stage, "delay_s": round(delay, 3), "killed_during": reached,
                        "rerun_exit": code, "half_written": [str(p) for p in bad],
                        "temps_after_rerun": [str(p) for p in leftover], "differs": diff})
        print(f"  kill {i - 1:2d}: aimed at {stage:7s} +{delay:5.2f}s, died in {reached:8s} -> rerun exit {code}"
              f"{', DIFFERS ' + str(diff) if diff else ''}{', HALF ' + str(bad) if bad else ''}", file=sys.stderr)
        if not diff and not bad:
            shutil.rmtree(work, ignore_errors=True)
    rows.append({"fault": "kill -9 during run, then run again" + (f" (aimed at {', '.join(aim)})"
                 if list(aim) != STAGES else ""), "tried": killed, "crashes": crashes,
                 "half_written": half, "differed": differed,
                 "note": "died in " + ", ".join(f"{k} {v}" for k, v in sorted(where.items())) +
                         f"; {temp_left} temp files left by kills, swept by the next run"})


def bench_full_disk(scene, base, ref_work, ref, rows, details):
    crashes = half = differed = tried = 0
    bad_exit = 0
    cases = [("capture fails", 4_000, ["--force", "all"]), ("training fails", 40_000, ["--force", "all"]),
             ("only the .blend save fails", 300_000, [])]
    for what, limit, extra in cases:
        tried += 1
        work = base / f"disk{tried}"
        shutil.copytree(ref_work, work)
        before = exact_digests(work)
        blend_before = hashlib.sha256((work / "alive.blend").read_bytes()).hexdigest()
        code, out = finish(run_argv(scene, work) + extra, limit=limit)
        errors = [ln for ln in out.splitlines() if ln.startswith("alive: error:")]
        ok_exit = code == 2 and len(errors) == 1 and ("file size limit" in errors[0] or "cannot save" in errors[0])
        bad_exit += not ok_exit
        crashes += crashed(code, out)
        bad = half_written(work) + temps(work)
        intact = exact_digests(work) == before and \
            hashlib.sha256((work / "alive.blend").read_bytes()).hexdigest() == blend_before
        code2, out2 = finish(run_argv(scene, work))
        crashes += crashed(code2, out2)
        bad += half_written(work) + temps(work)
        diff = differs(ref, outputs(work)) if code2 == 0 else ["run failed"]
        if not intact:
            diff.append("earlier artifacts changed by the failed run")
        half += len(bad)
        differed += bool(diff)
        details.append({"full_disk": what, "limit_bytes": limit, "exit": code, "error": errors[-1:] or out[-300:],
                        "earlier_intact": intact, "half_written": [str(p) for p in bad], "differs": diff})
        print(f"  full disk ({what}, {limit} B): exit {code}: {errors[-1] if errors else out[-200:]}",
              file=sys.stderr)
    rows.append({"fault": "full disk (file-size limit) at capture / train / save", "tried": tried,
                 "crashes": crashes, "half_written": half, "differed": differed,
                 "note": f"{tried - bad_exit}/{tried} exit 2 with one line; earlier artifacts intact; "
                         "then a run with room matched the reference"})


def bench_concurrent(scene, base, ref, rows, details, rounds=3):
    crashes = half = differed = 0
    refused = 0
    for r in range(rounds):
        work = base / f"two{r}"
        a, b = start(run_argv(scene, work)), start(run_argv(scene, work))
        (out_a, _), (out_b, _) = a.communicate(timeout=600), b.communicate(timeout=600)
        codes = sorted([a.returncode, b.returncode])
        outs = out_a + out_b
        crashes += crashed(max(codes), outs) if 1 in codes or "Traceback" in outs else 0
        one_refused = codes == [0, 2] and "is in use by another alive run" in outs
        refused += one_refused
        bad = half_written(work) + temps(work)
        half += len(bad)
        diff = differs(ref, outputs(work)) if 0 in codes else ["no run finished"]
        differed += bool(diff)
        details.append({"concurrent_round": r, "exit_codes": codes, "one_refused": one_refused, "differs": diff})
        print(f"  two runs at once: exit codes {codes}", file=sys.stderr)
    rows.append({"fault": "two `alive run` on one work directory at once", "tried": rounds, "crashes": crashes,
                 "half_written": half, "differed": differed,
                 "note": f"{refused}/{rounds}: one finished, the other refused at once (exit 2, names the holder)"})


HANG = ("import time\nprint('ALIVE {\"type\":\"status\",\"message\":\"train: hanging\"}', flush=True)\n"
        "time.sleep(3600)\n")
FLOOD = """import sys
junk = 'x' * 1023 + '\\n'
for _ in range(200_000):            # 200 MB of plain lines
    sys.stdout.write(junk)
sys.stdout.write('y' * 50_000_000)    # and one 50 MB line without an end
sys.stdout.flush()
sys.stderr.write('e' * 20_000_000 + '\\n')
print('\\nALIVE {"type":"error","message":"flooded the pipe, then failed","code":1}', flush=True)
"""


def fake_python(folder: Path, name: str, code: str) -> str:
    """An executable standing in for the worker's interpreter: it ignores the
    worker arguments and runs ``code`` instead."""
    script = folder / f"{name}.py"
    script.write_text(code)
    launcher = folder / name
    launcher.write_text(f"#!/bin/sh\nexec '{sys.executable}' '{script}'\n")
    launcher.chmod(0o755)
    return str(launcher)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_workers(base, rows, details):
    """The add-on's Job polled as the panel's timer does; the slowest poll is
    how long the UI would freeze."""
    from alive_blender.blender.ui.jobs import Job
    results = []
    for name, code, stall in (("hung worker", HANG, 3.0), ("flooding worker", FLOOD, 30.0)):
        python = fake_python(base, name.split()[0], code)
        rss0 = rss_mb()
        job = Job({"stage": "train", "workdir": str(base)}, python=python, stall_timeout=stall).start()
        t0, slowest = time.monotonic(), 0.0
        while True:
            p0 = time.monotonic()
            running = job.poll()
            slowest = max(slowest, time.monotonic() - p0)
            if not running or time.monotonic() - t0 > 120:
                break
            time.sleep(0.05)
        ended = not job.running
        if not ended:
            job.cancel(timeout=1)
        results.append((name, ended, job.error, time.monotonic() - t0, slowest, rss_mb() - rss0, len(job.log)))
        details.append({"worker": name, "ended": ended, "report": job.error, "seconds": round(time.monotonic() - t0, 2),
                        "slowest_poll_s": round(slowest, 4), "rss_growth_mb": round(rss_mb() - rss0, 1),
                        "log_lines_kept": len(job.log)})
        print(f"  {name}: ended={ended} in {time.monotonic() - t0:.1f}s, report: {job.error}", file=sys.stderr)
    rows.append({"fault": "hung worker / flooding worker (panel's Job)", "tried": len(results),
                 "crashes": sum(not (r[1] and r[2]) for r in results), "half_written": 0, "differed": 0,
                 "note": "; ".join(f"{n}: {'ended' if e else 'STILL RUNNING'} in {s:.1f}s, report '{r}', slowest "
                                   f"poll {p * 1000:.0f} ms, +{m:.0f} MB peak RSS, {k} log lines kept"
                                   for n, e, r, s, p, m, k in results)})


def table(rows) -> str:
    head = ["fault", "tried", "crashes (exit 1)", "half-written files", "final output differed", "note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append(f"| {r['fault']} | {r['tried']} | {r['crashes']} | {r['half_written']} | {r['differed']} | "
                     f"{r['note']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=21, help="kill -9 trials (spread over the seven stages)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="", help="also write the rows and every trial's details here")
    ap.add_argument("--keep", default="", help="work in this folder and keep it (default: a temporary one)")
    ap.add_argument("--only", default="", help="comma list of kills,disk,concurrent,workers")
    ap.add_argument("--stages", default=",".join(STAGES), help="the stages kills aim at (comma list)")
    ap.add_argument("--rollout-frames", type=int, default=0,
                    help="a longer rollout than TINY_RUN's 5 frames (its stages are then long enough to hit)")
    args = ap.parse_args(argv)
    if args.rollout_frames:
        RUN_FLAGS[RUN_FLAGS.index("--rollout-frames") + 1] = str(args.rollout_frames)
    only = set(args.only.split(",")) if args.only else {"kills", "disk", "concurrent", "workers"}
    base = Path(args.keep or tempfile.mkdtemp(prefix="alive-faults-")).absolute()
    base.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    t0 = time.monotonic()
    load = os.getloadavg()[0]
    scene = save_tiny_scene(base / "tiny.blend")
    ref_work = base / "reference"
    ref, lengths = reference(scene, ref_work)
    print("reference run stage lengths (s): " + ", ".join(f"{k} {v:.2f}" for k, v in lengths.items()),
          file=sys.stderr)
    rows, details = [], []
    if "kills" in only:
        bench_kills(scene, base, ref, lengths, args.kills, rng, rows, details, aim=args.stages.split(","))
    if "disk" in only:
        bench_full_disk(scene, base, ref_work, ref, rows, details)
    if "concurrent" in only:
        bench_concurrent(scene, base, ref, rows, details)
    if "workers" in only:
        bench_workers(base, rows, details)
    print(table(rows))
    print(f"\n{time.monotonic() - t0:.0f} s in all; load average {load:.2f} at the start ({os.cpu_count()} CPUs)")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "trials": details, "lengths": lengths}, indent=2))
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    bad = sum(r["crashes"] + r["half_written"] + r["differed"] for r in rows)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
