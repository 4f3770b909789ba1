"""Moving-camera rows of ``scripts/bench_alive.py`` (issue 19) and the re-render oracle.

The combination scene with a panning camera (``build_combination_scene(pan=P)``:
the camera swings left and right with period P while the two objects loop
with periods P1 and P2). A configuration is (orbiter phase, swinger position,
camera phase); the capture (frames 1..N) holds N of them. Invented frame t is
seen through the shot's camera at frame 1 + t (``core/world/camera_path.py``),
so a frame is new when its objects' poses were never captured together
under that camera.

Scoring is by the **re-render oracle**: for a sample of invented frames,
Blender renders the same state (each object keyed at its invented world
matrix, the camera keyed at the frame's camera) through the project's own
capture, and so do the state's neighbours (orbiter phase +-1, swinger
position +-1, same camera). tau is the median over the sampled frames of the
PSNR between the state's render and its nearest neighbour's (the
nearest-other-configuration rule of ``core/frame_metrics.py``, per camera); a
composed frame is real when its PSNR to its own oracle render is at least tau.

Rows: object-world + object-walk (the 3-D layers), and object-layers (today's
default, which falls back to whole captured frames when the camera moves).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

MAKE_PAN_SCENE = """
import bpy, sys
from alive_blender.blender.combination_scene import build_combination_scene
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = build_combination_scene(periods=(int(sys.argv[2]), int(sys.argv[3])), swing=True, pan=int(sys.argv[4]))
for s in [s for s in bpy.data.scenes if s != scene]:
    bpy.data.scenes.remove(s)
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
"""

# the re-render oracle's Blender side: the same script the tests key poses with
KEY_POSES = (Path(__file__).resolve().parents[1] / "tests" / "scripts" / "key_poses.py").read_text()


def psnr(a, b) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return 99.0 if mse < 1e-12 else 10 * np.log10(1.0 / mse)


def bench_moving_camera(args, work: Path, log: Path, cli, python, size: str = "64x48", engine: str = "WORKBENCH",
                        pan: int = 16, oracle_frames: int = 32) -> dict:
    from alive_blender.core.run.stages import load_generator
    from alive_blender.core.workdir.dataset import load_capture, load_capture_info
    p1, p2 = args.periods
    blend = work / f"pan{pan}.blend"
    python(MAKE_PAN_SCENE, [blend, p1, p2, pan], args.threads, log)
    wd = work / f"pan_world_{engine}_{size}"
    if wd.exists():
        shutil.rmtree(wd)
    _, t_train = cli(["run", blend, "--out", wd, "--frames", f"1-{args.frames}", "--resolution", size, "--engine",
                      engine, "--generator", "object-world", "--until", "train"], args.threads, log)
    ro = wd / "bench_world.npy"
    _, t_ro = cli(["rollout", wd, "--steps", args.steps, "--count", args.count, "--seed", 0, "--out", ro],
                  args.threads, log)
    states = np.load(ro.with_suffix(".states.npy"))            # (K, N + 1, M)
    cap = load_capture_info(wd)
    gen = load_generator(wd)
    t0 = time.monotonic()
    frames = np.arange(states.shape[1])
    composed = np.stack([(np.clip(gen.compose(states[k], frames=frames)["rgb"], 0, 1) * 255 + 0.5).astype(np.uint8)
                         for k in range(len(states))])         # (K, N + 1, H, W, 3)
    t_compose = time.monotonic() - t0
    cams = gen.camera_samples(frames)
    fr = np.round(cap.frames).astype(int)                      # scene frame of each sample
    phase = lambda s: (fr[s] - 1) % p1                         # noqa: E731
    swing = lambda s: min((fr[s] - 1) % p2, p2 - (fr[s] - 1) % p2)  # noqa: E731
    campos = lambda s: (fr[s] - 1) % pan                       # noqa: E731
    names = [gen.names[str(o)] for o in gen.objects]
    orb, swi = names.index("Orbiter"), names.index("Swinger")
    captured = {(phase(i), swing(i), campos(i)) for i in range(len(fr))}
    config = lambda k, t: (phase(states[k, t, orb]), swing(states[k, t, swi]), campos(cams[t]))  # noqa: E731
    invented = [(k, t) for k in range(len(states)) for t in range(1, states.shape[1])]
    configs = [config(k, t) for k, t in invented]
    new_reached = {c for c in configs if c not in captured}
    # the oracle: a sample of invented frames, each with its neighbours, rendered by Blender
    rng = np.random.default_rng(0)
    pick = [invented[i] for i in sorted(rng.choice(len(invented), min(oracle_frames, len(invented)), replace=False))]
    sample_of_phase = {phase(i): i for i in range(len(fr))}
    sample_of_swing = {swing(i): i for i in range(len(fr))}
    mats = gen.a["matrices"]                                   # (samples, M, 4, 4)
    poses, cameras, groups = [], [], []
    for k, t in pick:
        a, b, _ = config(k, t)
        own = mats[states[k, t], np.arange(len(names))]
        group = [len(poses)]
        poses.append(own)
        for da, db in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            na, nb = (a + da) % p1, b + db
            if nb < 0 or nb > p2 // 2 or na not in sample_of_phase or nb not in sample_of_swing:
                continue
            alt = own.copy()
            alt[orb], alt[swi] = mats[sample_of_phase[na], orb], mats[sample_of_swing[nb], swi]
            group.append(len(poses))
            poses.append(alt)
        cameras += [cap.world_from_camera(int(cams[t]))] * len(group)
        groups.append(group)
    spec = wd / "oracle.npz"
    np.savez(spec, names=np.array(names), poses=np.array(poses), cameras=np.array(cameras))
    oracle_blend = wd / "oracle.blend"
    t0 = time.monotonic()
    python(KEY_POSES, [blend, oracle_blend, spec], args.threads, log)
    owd = wd / "oracle_capture"
    cli(["capture", oracle_blend, "--out", owd, "--frames", f"1-{len(poses)}", "--resolution", size, "--engine",
         engine], args.threads, log)
    t_oracle = time.monotonic() - t0
    oracle = load_capture(owd).rgb.astype(np.float32) / 255.0
    own_psnr, taus, novel = [], [], []
    for (k, t), group in zip(pick, groups):
        own_psnr.append(psnr(composed[k, t] / 255.0, oracle[group[0]]))
        taus.append(max([psnr(oracle[group[0]], oracle[g]) for g in group[1:]] or [0.0]))
        novel.append(config(k, t) not in captured)
    tau = float(np.median(taus))
    real = np.array(own_psnr) >= tau
    novel = np.array(novel)
    world = {"row": "object-world + object-walk (3-D layers)", "tau_db": tau, "psnr_median": float(np.median(own_psnr)),
             "real": float(real.mean()), "novel_real": float((real & novel).mean()),
             "oracle_novel_within_tau": float(real[novel].mean()) if novel.any() else None,
             "oracle_frames": len(pick), "oracle_novel_frames": int(novel.sum()),
             "new_reached": len(new_reached), "never_captured": p1 * (p2 // 2 + 1) * pan - len(captured),
             "captured_configs": len(captured), "camera_rule": gen.path.describe(),
             "train_s": t_train, "rollout_s": t_ro, "compose_s": t_compose, "oracle_s": t_oracle,
             "_composed": composed, "_pick": pick, "_oracle": oracle, "_groups": groups}
    # today's default on the same capture: whole captured frames (a moving camera has no image-space layers)
    wd2 = work / f"pan_layers_{engine}_{size}"
    if wd2.exists():
        shutil.rmtree(wd2)
    shutil.copytree(wd, wd2, ignore=shutil.ignore_patterns("model", "rollout", "bench_*", "oracle*", "decoded", "bakes"))
    _, t_train2 = cli(["train", wd2, "--generator", "object-layers"], args.threads, log)
    ro2 = wd2 / "bench_layers.npy"
    _, t_ro2 = cli(["rollout", wd2, "--steps", args.steps, "--count", args.count, "--seed", 0, "--out", ro2],
                   args.threads, log)
    st2 = np.load(ro2.with_suffix(".states.npy"))
    new2 = {(phase(s), swing(s), campos(s)) for s in st2[:, 1:].ravel()} - captured
    layers = {"row": "object-layers (today: whole captured frames)", "tau_db": tau, "new_reached": len(new2),
              "never_captured": world["never_captured"], "captured_configs": len(captured),
              "train_s": t_train2, "rollout_s": t_ro2,
              "note": "every invented frame is a captured frame, camera included (replayed, not new)"}
    return {"engine": engine, "size": size, "pan": pan, "rows": [world, layers]}


def table(shot: dict) -> str:
    def f(v, pct=False):
        if v is None:
            return "-"
        return f"{100 * v:.1f} %" if pct else (f"{v:.1f}" if isinstance(v, float) else str(v))
    lines = [f"moving camera (pan {shot['pan']}), {shot['engine']} {shot['size']}",
             "| row | tau dB | PSNR median | real | novel-real | oracle: novel within tau | new reached | train s | "
             "rollout s | compose s |", "|" + " --- |" * 10]
    for r in shot["rows"]:
        lines.append(f"| {r['row']} | {f(r.get('tau_db'))} | {f(r.get('psnr_median'))} | {f(r.get('real'), True)} | "
                     f"{f(r.get('novel_real'), True)} | {f(r.get('oracle_novel_within_tau'), True)} | "
                     f"{r['new_reached']}/{r['never_captured']} | {f(r.get('train_s'))} | {f(r.get('rollout_s'))} | "
                     f"{f(r.get('compose_s'))} |")
    return "\n".join(lines)


def contact_sheet(shot: dict, path: Path, n: int = 8) -> None:
    """Per column a sampled invented frame: composed (top) over Blender's render of the same state."""
    from PIL import Image
    r = shot["rows"][0]
    cols = []
    for j, ((k, t), group) in enumerate(list(zip(r["_pick"], r["_groups"]))[:n]):
        top = r["_composed"][k, t]
        bottom = (r["_oracle"][group[0]] * 255 + 0.5).astype(np.uint8)
        cols.append(np.concatenate([top, bottom], 0))
    img = np.concatenate(cols, 1)
    Image.fromarray(img).resize((img.shape[1] * 2, img.shape[0] * 2), Image.NEAREST).save(path)
