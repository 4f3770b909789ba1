"""Moving-camera rows of ``scripts/bench_alive.py`` (issue 19) and the re-render oracle.

The combination scene with a panning camera (``build_combination_scene(pan=P)``:
the camera swings left and right with period P while the two objects loop
with periods P1 and P2), or a dollying one (``dolly=P``: the camera moves in
and out along its view axis, period P). A configuration is (orbiter phase,
swinger position, camera): for the pan the camera's phase (16; as first
measured), for the dolly its position (a cosine, like the swinger: phases t
and P - t are one position, 9 of them); the capture (frames 1..N) holds N of
them. Both rows also count the camera by its view (the distinct captured
camera poses: the pan's sine path shows phases t and P/2 - t from one place,
so 9 views), the ``new by view`` column. Invented frame t is
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
default, which falls back to whole captured frames when the camera moves);
baselines scored by the same rule (``ceiling_row``): Blender's render of the
same states with another Cycles seed, and the nearest captured frame through
the same camera. With ``--keep DIR --reuse`` the rollouts and oracle renders a
run left are composed and scored again (before / after a composer change).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

MAKE_MOVING_SCENE = """
import bpy, sys
from alive_blender.blender.combination_scene import build_combination_scene
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = build_combination_scene(periods=(int(sys.argv[2]), int(sys.argv[3])), swing=True,
                                **{sys.argv[5]: int(sys.argv[4])})
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
                        pan: int = 16, oracle_frames: int = 32, move: str = "pan") -> dict:
    """``move`` "pan" or "dolly", with period ``pan`` frames. Rows: run's defaults (object-layers, which
    draws in 3-D through a moving camera: object-world; the relational behavior), object-world with the
    object walk, object-layers with ``--moving-camera frames`` (whole captured frames: the default before)."""
    p1, p2 = args.periods
    blend = work / f"{move}{pan}.blend"
    python(MAKE_MOVING_SCENE, [blend, p1, p2, pan, move], args.threads, log)
    wd = work / f"{move}_world_{engine}_{size}"
    # --reuse (with --keep): the models, rollouts and oracle renders an earlier run left are scored again by
    # today's composer (the same states and renders before and after a change)
    reuse = lambda d: bool(getattr(args, "reuse", False)) and (d / "oracle_capture").exists()  # noqa: E731
    t_train = None
    if not reuse(wd):
        if wd.exists():
            shutil.rmtree(wd)
        _, t_train = cli(["run", blend, "--out", wd, "--frames", f"1-{args.frames}", "--resolution", size, "--engine",
                          engine, "--until", "train",   # the defaults: object-layers becomes object-world here
                          *(["--behavior-epochs", args.behavior_epochs] if getattr(args, "behavior_epochs", 0)
                            else [])], args.threads, log)
    keep = shutil.ignore_patterns("model", "rollout", "bench_*", "oracle*", "decoded", "bakes")
    world = oracle_row(args, wd, blend, cli, python, log, size, engine, pan, move, oracle_frames, t_train,
                       reuse(wd))
    world["row"] = "default: " + world["row"]   # the camera moves, so the default generator draws in 3-D
    ceiling = ceiling_row(args, wd, blend, cli, python, log, size, engine, world, reuse(wd))
    # the object walk on the same capture (its novelty counts the camera: core/models/object_walk.py)
    wd3 = work / f"{move}_walk_{engine}_{size}"
    t_train3 = None
    if not reuse(wd3):
        if wd3.exists():
            shutil.rmtree(wd3)
        shutil.copytree(wd, wd3, ignore=keep)
        _, t_train3 = cli(["train", wd3, "--generator", "object-world", "--behavior", "object-walk"], args.threads,
                          log)
    walk = oracle_row(args, wd3, blend, cli, python, log, size, engine, pan, move, oracle_frames, t_train3,
                      reuse(wd3))
    # today's default on the same capture: whole captured frames (a moving camera has no image-space layers)
    wd2 = work / f"{move}_layers_{engine}_{size}"
    ro2 = wd2 / "bench_layers.npy"
    t_train2 = t_ro2 = None
    if not (getattr(args, "reuse", False) and ro2.with_suffix(".states.npy").exists()):
        if wd2.exists():
            shutil.rmtree(wd2)
        shutil.copytree(wd, wd2, ignore=keep)
        _, t_train2 = cli(["train", wd2, "--generator", "object-layers", "--moving-camera", "frames"], args.threads,
                          log)
        _, t_ro2 = cli(["rollout", wd2, "--steps", args.steps, "--count", args.count, "--seed", 0, "--out", ro2],
                       args.threads, log)
    cfg = world["_configs"]
    st2 = np.load(ro2.with_suffix(".states.npy"))[:, 1:].ravel()
    layers = {"row": "object-layers --moving-camera frames (whole captured frames; the default before)", "tau_db": world["tau_db"],
              "new_reached": len({cfg.of(s, s) for s in st2} - cfg.captured),
              "never_captured": world["never_captured"], "captured_configs": world["captured_configs"],
              "new_by_view": len({cfg.by_view(s, s) for s in st2} - cfg.captured_v),
              "never_captured_by_view": world["never_captured_by_view"], "train_s": t_train2, "rollout_s": t_ro2,
              "note": "every invented frame is a captured frame, camera included (replayed, not new)"}
    return {"engine": engine, "size": size, "pan": pan, "move": move, "rows": [world, *ceiling, walk, layers]}


SET_SEED = """
import bpy, sys
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
for scene in bpy.data.scenes:
    scene.cycles.seed = int(sys.argv[3])
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[2])
"""


def ceiling_row(args, wd: Path, blend: Path, cli, python, log: Path, size: str, engine: str, world: dict,
                reuse: bool = False) -> list:
    """Baselines scored by the same rule as a composed frame (tau and the oracle unchanged): how much
    of tau is the renderer's noise. Per sampled oracle frame, (1) Blender's render of the same state
    with another Cycles seed (Cycles only: Workbench has no noise), (2) the captured frame through the
    same camera nearest the oracle render (what replaying the capture would score at best)."""
    from alive_blender.core.workdir.dataset import load_capture
    own = [g[0] for g in world["_groups"]]
    oracle, tau, novel = world["_oracle"], world["tau_db"], np.array(world["_novel"])
    statics = world["_statics"]
    rows = []

    def row(name, scores, note, static):
        real = np.array(scores) >= tau
        return {"row": name, "tau_db": tau, "psnr_median": float(np.median(scores)), "real": float(real.mean()),
                "static_psnr_median": float(np.median(static)),
                "novel_real": float((real & novel).mean()),
                "oracle_novel_within_tau": float(real[novel].mean()) if novel.any() else None, "note": note}
    if engine == "CYCLES":
        swd = wd / "oracle_seed_capture"
        if not (reuse and swd.exists()):
            spec = np.load(wd / "oracle.npz")
            seed_spec = wd / "oracle_seed.npz"
            np.savez(seed_spec, names=spec["names"], poses=spec["poses"][own], cameras=spec["cameras"][own])
            seed_blend = wd / "oracle_seed.blend"
            python(KEY_POSES, [blend, seed_blend, seed_spec], args.threads, log)
            python(SET_SEED, [seed_blend, seed_blend, 1], args.threads, log)
            cli(["capture", seed_blend, "--out", swd, "--frames", f"1-{len(own)}", "--resolution", size, "--engine",
                 engine], args.threads, log)
        seeded = load_capture(swd).rgb.astype(np.float32) / 255.0
        rows.append(row("ceiling: Blender's render, Cycles seed 1", [psnr(seeded[j], oracle[g]) for j, g in
                                                                     enumerate(own)],
                        "the same state rendered with another noise pattern (the seed the capture used: 0)",
                        [psnr(seeded[j][m], oracle[g][m]) for j, (g, m) in enumerate(zip(own, statics))]))
    cap = load_capture(wd)
    cfg, cams = world["_configs"], world["_cams"]
    near, near_static = [], []
    for (k, t), g, m in zip(world["_pick"], own, statics):
        same = np.flatnonzero(cfg.view == cfg.view[int(cams[t])])
        best = max(same, key=lambda i: psnr(cap.rgb[i].astype(np.float32) / 255.0, oracle[g]))
        near.append(psnr(cap.rgb[best].astype(np.float32) / 255.0, oracle[g]))
        near_static.append(psnr(cap.rgb[best][m].astype(np.float32) / 255.0, oracle[g][m]))
    rows.append(row("baseline: nearest captured frame through that camera", near,
                    "the capture replayed: its best frame through the same camera", near_static))
    return rows


class Configs:
    """What counts as a configuration of the shot: (orbiter phase, swinger position, camera): for the pan
    the camera's phase, for the dolly its position; ``by_view``: the camera by its captured pose class."""

    def __init__(self, cap, p1: int, p2: int, pan: int, move: str):
        self.fr = np.round(cap.frames).astype(int)               # scene frame of each sample
        n = len(self.fr)
        views = np.stack([cap.world_from_camera(i) for i in range(n)]).reshape(n, -1)
        self.view = np.array([np.flatnonzero(np.abs(views - v).max(1) <= 1e-4)[0] for v in views])
        self.p1, self.p2, self.pan, self.move = p1, p2, pan, move
        self.captured = {self.of(i, i, i) for i in range(n)}
        self.captured_v = {self.by_view(i, i, i) for i in range(n)}
        n_cam = pan if move == "pan" else pan // 2 + 1
        self.never = p1 * (p2 // 2 + 1) * n_cam - len(self.captured)
        self.never_v = p1 * (p2 // 2 + 1) * len(set(self.view.tolist())) - len(self.captured_v)

    def phase(self, s):
        return (self.fr[s] - 1) % self.p1

    def swing(self, s):
        b = (self.fr[s] - 1) % self.p2
        return min(b, self.p2 - b)

    def campos(self, s):
        b = (self.fr[s] - 1) % self.pan
        return b if self.move == "pan" else min(b, self.pan - b)   # the dolly: combination_scene.dolly_position_of

    def of(self, orb_sample, swi_sample, cam_sample=None):
        cam = orb_sample if cam_sample is None else cam_sample
        return self.phase(orb_sample), self.swing(swi_sample), self.campos(cam)

    def by_view(self, orb_sample, swi_sample, cam_sample=None):
        cam = orb_sample if cam_sample is None else cam_sample
        return self.phase(orb_sample), self.swing(swi_sample), int(self.view[cam])


def oracle_row(args, wd: Path, blend: Path, cli, python, log: Path, size: str, engine: str, pan: int, move: str,
               oracle_frames: int, t_train: float, reuse: bool = False) -> dict:
    """Roll out the work directory's behavior, compose every invented frame, count the configurations
    reached, and score a sample of them against Blender's render of the same state (the oracle).
    ``reuse``: the rollout and oracle renders already in ``wd`` (only the composing is done again)."""
    import json
    from alive_blender.core.run.stages import load_generator
    from alive_blender.core.workdir.dataset import load_capture, load_capture_info
    p1, p2 = args.periods
    ro = wd / "bench_world.npy"
    said = ro.with_suffix(".said.json")   # what the rollout said (its behavior), for --reuse
    if reuse:
        res_ro, t_ro = json.loads((said if said.exists() else ro.with_suffix(".json")).read_text()), None
    else:
        res_ro, t_ro = cli(["rollout", wd, "--steps", args.steps, "--count", args.count, "--seed", 0, "--out", ro],
                           args.threads, log)
        said.write_text(json.dumps(res_ro, default=str))
    states = np.load(ro.with_suffix(".states.npy"))            # (K, N + 1, M)
    cap = load_capture_info(wd)
    gen = load_generator(wd)
    t0 = time.monotonic()
    frames = np.arange(states.shape[1])
    # what decode draws: the free poses a relational rollout drew (R.poses.npy), else the states'
    # captured poses; the oracle renders the same poses
    from alive_blender.core.run.stages import _compose, _free_poses
    drawn = _free_poses(ro, gen)
    if drawn is not None:   # slots in the generator's object order (as decode assumes)
        order = json.loads(ro.with_suffix(".json").read_text()).get("object_names")
        assert order == [gen.names[str(o)] for o in gen.objects], (order, gen.names)
    composed = np.stack([(np.clip(_compose(gen, states[k], 0, frames=frames,
                                           poses=None if drawn is None else drawn[k])["rgb"], 0, 1) * 255 + 0.5
                          ).astype(np.uint8) for k in range(len(states))])   # (K, N + 1, H, W, 3)
    t_compose = time.monotonic() - t0
    cams = gen.camera_samples(frames)
    cfg = Configs(cap, p1, p2, pan, move)
    names = [gen.names[str(o)] for o in gen.objects]
    orb, swi = names.index("Orbiter"), names.index("Swinger")
    config = lambda k, t: cfg.of(states[k, t, orb], states[k, t, swi], cams[t])  # noqa: E731
    invented = [(k, t) for k in range(len(states)) for t in range(1, states.shape[1])]
    new_reached = {config(k, t) for k, t in invented} - cfg.captured
    new_v = {cfg.by_view(states[k, t, orb], states[k, t, swi], cams[t]) for k, t in invented} - cfg.captured_v
    # the oracle: a sample of invented frames, each with its neighbours, rendered by Blender
    rng = np.random.default_rng(0)
    pick = [invented[i] for i in sorted(rng.choice(len(invented), min(oracle_frames, len(invented)), replace=False))]
    n = len(cfg.fr)
    sample_of_phase = {cfg.phase(i): i for i in range(n)}
    sample_of_swing = {cfg.swing(i): i for i in range(n)}
    mats = gen.a["matrices"]                                   # (samples, M, 4, 4)
    poses, cameras, groups = [], [], []
    for k, t in pick:
        a, b, _ = config(k, t)
        own = mats[states[k, t], np.arange(len(names))] if drawn is None else drawn[k, t].astype(np.float64)
        group = [len(poses)]
        poses.append(own)
        for da, db in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            na, nb = (a + da) % p1, b + db
            if nb < 0 or nb > p2 // 2 or na not in sample_of_phase or nb not in sample_of_swing:
                continue
            # one captured step of one object from the frame's own poses (free poses included: snapping
            # the other object to its captured pose as well made the neighbour farther and tau lower)
            alt = own.copy()
            if da:
                alt[orb] = mats[sample_of_phase[na], orb] @ np.linalg.inv(mats[sample_of_phase[a], orb]) @ own[orb]
            if db:
                alt[swi] = mats[sample_of_swing[nb], swi] @ np.linalg.inv(mats[sample_of_swing[b], swi]) @ own[swi]
            group.append(len(poses))
            poses.append(alt)
        cameras += [cap.world_from_camera(int(cams[t]))] * len(group)
        groups.append(group)
    spec = wd / "oracle.npz"
    np.savez(spec, names=np.array(names), poses=np.array(poses), cameras=np.array(cameras))
    oracle_blend = wd / "oracle.blend"
    t0 = time.monotonic()
    owd = wd / "oracle_capture"
    if not reuse:
        python(KEY_POSES, [blend, oracle_blend, spec], args.threads, log)
        cli(["capture", oracle_blend, "--out", owd, "--frames", f"1-{len(poses)}", "--resolution", size, "--engine",
             engine], args.threads, log)
    t_oracle = None if reuse else time.monotonic() - t0
    oracle_cap = load_capture(owd)
    oracle = oracle_cap.rgb.astype(np.float32) / 255.0
    moving = [int(i) for i, name in oracle_cap.meta.get("object_ids", {}).items() if name in names]
    statics = static_masks(oracle_cap.ids, [g[0] for g in groups], moving)
    own_psnr, taus, novel, own_static = [], [], [], []
    for (k, t), group, mask in zip(pick, groups, statics):
        own_psnr.append(psnr(composed[k, t] / 255.0, oracle[group[0]]))
        own_static.append(psnr(composed[k, t][mask] / 255.0, oracle[group[0]][mask]))
        taus.append(max([psnr(oracle[group[0]], oracle[g]) for g in group[1:]] or [0.0]))
        novel.append(config(k, t) not in cfg.captured)
    tau = float(np.median(taus))
    real = np.array(own_psnr) >= tau
    novel = np.array(novel)
    behavior = res_ro.get("behavior") or "?"
    return {"row": f"object-world + {behavior} (3-D layers)", "tau_db": tau, "psnr_median": float(np.median(own_psnr)),
            "real": float(real.mean()), "novel_real": float((real & novel).mean()),
            "oracle_novel_within_tau": float(real[novel].mean()) if novel.any() else None,
            "oracle_frames": len(pick), "oracle_novel_frames": int(novel.sum()),
            "static_psnr_median": float(np.median(own_static)),
            "psnr_frames": [round(float(v), 3) for v in own_psnr], "tau_frames": [round(float(v), 3) for v in taus],
            "new_reached": len(new_reached), "never_captured": cfg.never,
            "new_by_view": len(new_v), "never_captured_by_view": cfg.never_v,
            "captured_configs": len(cfg.captured), "camera_rule": gen.path.describe(), "poses_drawn":
            res_ro.get("poses_drawn"), "composed_from": "free poses" if drawn is not None else "states",
            "train_s": t_train, "rollout_s": t_ro, "compose_s": t_compose,
            "oracle_s": t_oracle, "_composed": composed, "_pick": pick, "_oracle": oracle, "_groups": groups,
            "_configs": cfg, "_taus": taus, "_novel": novel, "_poses": poses, "_cameras": cameras,
            "_own_psnr": own_psnr, "_cams": cams, "_states": states, "_statics": statics}


def static_masks(ids, renders: list, moving: list) -> list:
    """Per oracle render: its static scene, shadows included (no moving object within 2 px). The
    whole-frame PSNR forgives a smudged floor as long as it costs less than the objects' one step
    (tau); the static PSNR shows it: Workbench renders the floor the same in every state."""
    from scipy.ndimage import binary_dilation
    return [~binary_dilation(np.isin(ids[g], moving), iterations=2) for g in renders]


def table(shot: dict) -> str:
    def f(v, pct=False):
        if v is None:
            return "-"
        return f"{100 * v:.1f} %" if pct else (f"{v:.1f}" if isinstance(v, float) else str(v))
    lines = [f"moving camera ({shot.get('move', 'pan')} {shot['pan']}), {shot['engine']} {shot['size']}",
             "| row | tau dB | PSNR median | static PSNR | real | novel-real | oracle: novel within tau | new reached | "
             "new by view | train s | rollout s | compose s |", "|" + " --- |" * 12]
    for r in shot["rows"]:
        reach = lambda a, b: f"{r[a]}/{r[b]}" if a in r else "-"  # noqa: E731
        lines.append(f"| {r['row']} | {f(r.get('tau_db'))} | {f(r.get('psnr_median'))} | "
                     f"{f(r.get('static_psnr_median'))} | {f(r.get('real'), True)} | "
                     f"{f(r.get('novel_real'), True)} | {f(r.get('oracle_novel_within_tau'), True)} | "
                     f"{reach('new_reached', 'never_captured')} | {reach('new_by_view', 'never_captured_by_view')} | "
                     f"{f(r.get('train_s'))} | {f(r.get('rollout_s'))} | "
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
