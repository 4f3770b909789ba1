"""The bpy-free stages: encode, train, rollout, decode, preview.

Each stage reads what earlier stages left in the work directory, writes its
own artifacts atomically, and records a content key of its inputs in
``alive.json``; with unchanged inputs a stage returns its earlier result
without recomputing (``force=True`` re-runs it). These functions are what the
worker process, the CLI and the tests call.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np

from ..rollout import check_embeddings
from ..workdir.artifacts import (CAPTURE, EMBED, MODEL, ROLLOUT, WorkDir, content_key, load_npy, read_json,
                        save_npy, write_json)
from ..errors import AliveError
from .beside import relational_beside
from .protocol import Reporter


def _reporter(rep: Optional[Reporter]) -> Reporter:
    return rep or Reporter()


def capture_key(wd: WorkDir) -> str:
    meta = read_json(wd / CAPTURE / "meta.json", "capture metadata (run capture first)")
    return meta.get("key") or content_key(meta)


def encode(workdir, spec, device: str = "auto", force: bool = False, reporter: Optional[Reporter] = None) -> dict:
    from ..workdir.dataset import open_capture
    from ..device import pick_device
    from ..models.encoder import EncoderSpec, make_encoder
    rep = _reporter(reporter)
    wd = WorkDir(workdir)
    spec = spec if isinstance(spec, EncoderSpec) else EncoderSpec.from_dict(spec or {})
    key = content_key("encode", capture_key(wd), spec.identity())
    out = wd / EMBED / "embeddings.npy"
    if not force and wd.stage_key("encode") == key and out.exists():
        info = read_json(wd / EMBED / "encoder.json")
        rep.status(f"encode: up to date ({info['label']})")
        return info
    dev = pick_device(device)
    encoder = make_encoder(spec, dev)
    rep.status(f"encode: {encoder.label}")
    if not encoder.semantic:
        rep.warning(f"encoder in use is {encoder.label}")
    cap = open_capture(wd.root)   # streamed: full-size captures are never all in memory
    embs = []
    n = len(cap)
    # 16 frames, fewer when large (about a megapixel): cancel is checked between chunks
    batch = max(1, min(16, DECODE_CHUNK_PIXELS // (cap.width * cap.height)))
    for i, rgb, _, _ in cap.chunks(batch):
        rep.check_cancel()
        embs.append(encoder.encode_images(rgb))
        rep.progress(min(n, i + batch) / n, f"encoded {min(n, i + batch)}/{n} frames")
    emb = np.concatenate(embs).astype(np.float32)
    info = {"label": encoder.label, "semantic": bool(encoder.semantic), "dim": int(emb.shape[1]),
            "spec": spec.to_dict(), "identity": spec.identity(), "count": int(len(emb))}
    save_npy(out, emb)
    write_json(wd / EMBED / "encoder.json", info)
    wd.mark_done("encode", key, label=encoder.label)
    return info


def train(workdir, generator: dict | None = None, behavior: dict | None = None, device: str = "auto",
          force: bool = False, reporter: Optional[Reporter] = None, working_size=None) -> dict:
    """Train generator and behavior. ``working_size`` (W, H): learn at this size,
    the capture reduced by area averaging (training stays cheap however large
    the capture: the output size is chosen when decoding); None or 0 = the
    capture's own size. Larger than the capture is refused. Object layers are
    built from the capture at its own size (they are its pixels: nothing is
    learned, and full-size output needs full-size layers)."""
    from ..models.behavior import CAPTURE_ARCHS, WALK_ARCHS, config_for_generator, train_behavior
    from ..workdir.checkpoint import write_manifest
    from ..workdir.dataset import open_capture
    from ..device import pick_device
    from ..models.generator import LAYER_ARCHS, GeneratorConfig, train_generator
    rep = _reporter(reporter)
    wd = WorkDir(workdir)
    gcfg = GeneratorConfig.from_dict(generator or {})
    bcfg = config_for_generator(behavior, gcfg.arch in LAYER_ARCHS)
    if bcfg.arch in CAPTURE_ARCHS and gcfg.arch not in LAYER_ARCHS:
        raise AliveError(f"behavior '{bcfg.arch}' walks captured objects; only the object-layers generator can "
                         f"show its states, not '{gcfg.arch}'",
                         "use --generator object-layers, or an embedding behavior such as --behavior mdn-window")
    embed_key = wd.stage_key("encode")
    if embed_key is None:
        raise AliveError(f"no embeddings in '{wd.root}'", "run encode first")
    reader = open_capture(wd.root)
    work_w, work_h = reader.check_size(working_size)
    key = content_key("train", embed_key, gcfg.to_dict(), bcfg.to_dict(),
                      *([] if (work_w, work_h) == reader.size else [[work_w, work_h]]))
    model_dir = wd / MODEL
    if not force and wd.stage_key("train") == key and (model_dir / "manifest.json").exists():
        rep.status("train: up to date")
        return read_json(model_dir / "train.json")
    dev = pick_device(device)
    emb = load_npy(wd / EMBED / "embeddings.npy", "embeddings")
    encoder_info = read_json(wd / EMBED / "encoder.json")
    # object layers are the capture's own pixels: kept at its full size, decoded at any size up to it
    cap = reader.load(None if gcfg.arch in LAYER_ARCHS else (work_w, work_h))
    model_dir.mkdir(parents=True, exist_ok=True)
    state_path = _resumable_state(model_dir, key, force, rep)

    gcfg = _layers_for_camera(gcfg, cap, rep)
    # the relational behavior needs only the objects' matrices: it trains beside the layer build (beside.py)
    beside = relational_beside(emb, cap, gcfg, bcfg, rep)
    if beside is not None:
        rep.status(f"train: behavior '{bcfg.arch}' beside the generator's build")
    rep.status(f"train: generator '{gcfg.arch}' on {len(emb)} frames {cap.rgb.shape[2]}x{cap.rgb.shape[1]} ({dev})")
    t0 = time.monotonic()
    # real subframes, when captured, are trained on as they are; otherwise
    # slerped in-between embeddings against blended frames stand in for them
    has_subframes = not bool(np.all(cap.is_real_frame))
    try:
        if gcfg.arch == "object-world":
            from ..models.world_layers import train_world_layers
            gen = train_world_layers(emb, cap, gcfg, rep)   # object-layers plus fused 3-D clouds
        elif gcfg.arch in LAYER_ARCHS:
            from ..regions.layers import train_any_layers
            gen = train_any_layers(emb, cap, gcfg, rep)   # built from the capture's pixels: nothing to fit
            gcfg = gen.cfg   # footage may come back as region-layers (core/regions)
        else:
            gen = train_generator(emb, cap.rgb, cap.depth, cap.alpha, gcfg, rep, dev, state_path,
                                  interpolate=False if has_subframes else None)
        t_gen = time.monotonic() - t0
        H, W = cap.rgb.shape[1:3]
        train_psnr = _capture_psnr(gen, emb, cap.rgb, W, H)
    except BaseException:
        if beside is not None:
            beside.abandon()
        raise
    rep.metric("generator_psnr", train_psnr)
    rep.status(f"train: generator {gen.steps_done} steps in {t_gen:.1f} s, {train_psnr:.2f} dB on the capture")

    if beside is not None and not beside.fits(gen, gcfg.arch):
        beside.abandon()   # the generator came out with other objects: trained again for its own
        rep.status("train: the generator's objects differ from those the behavior trained on: training it again")
        beside = None
    t0 = time.monotonic()
    rep.status(f"train: behavior '{bcfg.arch}'" + (" (trained beside the build): finishing" if beside is not None else ""))
    if beside is not None:
        beh = beside.result()
    elif bcfg.arch in WALK_ARCHS:
        from ..models.behavior import walk_settings
        from ..models.object_walk import train_object_walk
        beh = train_object_walk(emb, cap, walk_settings(behavior), rep,
                                regions=gen if hasattr(gen, "region_features") else None,
                                objects=getattr(gen, "objects", None))
    elif bcfg.arch == "relational":   # a trained model of the objects together; the walk where data is short
        from ..models.relational.train import train_relational
        beh = train_relational(emb, cap, bcfg, rep, regions=gen if hasattr(gen, "region_features") else None,
                               objects=getattr(gen, "objects", None),
                               free_poses=callable(getattr(gen, "compose_poses", None)))
    else:
        beh = train_behavior(emb[np.asarray(cap.is_real_frame)], bcfg, rep, dev)
    t_beh = beside.seconds if beside is not None else time.monotonic() - t0

    gen.save(model_dir / "generator.safetensors")
    beh.save(model_dir / "behavior.safetensors")
    result = {"generator": gcfg.arch, "behavior": bcfg.arch, "generator_steps": gen.steps_done,
              "generator_seconds": round(t_gen, 2), "behavior_seconds": round(t_beh, 2),
              "train_psnr": round(train_psnr, 2), "device": dev, "encoder": encoder_info["label"],
              "width": int(W), "height": int(H), "capture_width": int(reader.width),
              "capture_height": int(reader.height)}
    if getattr(beh, "choice", None):   # which behavior was trained and why (relational or its walk fallback)
        result.update(behavior=beh.cfg.arch, behavior_choice=beh.choice,
                      **({"behavior_loss": beh.info["loss"]} if getattr(beh, "info", None) else {}))
    write_json(model_dir / "train.json", result)
    write_manifest(model_dir, ["generator.safetensors", "behavior.safetensors"],
                   {"encoder": encoder_info["identity"], "encoder_label": encoder_info["label"],
                    "dim": int(emb.shape[1]), "generator": gcfg.to_dict(), "behavior": bcfg.to_dict()})
    for done in (state_path, state_path.with_suffix(".json")):
        if done.exists():
            done.unlink()  # finished: the resumable state has served its purpose
    wd.mark_done("train", key, **result)
    return result


def _capture_psnr(gen, emb, rgb, width: int, height: int, chunk: int = 8) -> float:
    """PSNR of the generator's decode of the captured embeddings against the captured frames
    (``generator.psnr`` over all of them), the squared error summed a few frames at a time: at
    1280x720 the whole shot and its decode in float64 were gigabytes, the train stage's peak. One
    decode of the whole shot (a moving camera shows decoded frame f through frame f's camera)."""
    from ..models.generator import psnr_of_mse
    dec = gen.decode(emb, width, height)["rgb"]
    total = 0.0
    for i in range(0, len(dec), chunk):
        total += float(np.sum((np.asarray(dec[i:i + chunk], np.float64)
                               - np.asarray(rgb[i:i + chunk], np.float64) / 255.0) ** 2))
    return psnr_of_mse(total / max(dec.size, 1))


def _layers_for_camera(gcfg, cap, rep: Reporter):
    """object-layers through a moving camera becomes object-world (``generator.moving_camera``
    "world", the default): flat layers cut from one camera's pixels can only replay whole
    captured frames there, which invents nothing; the 3-D layers draw the new arrangement through
    the shot's own camera (core/world/camera_path.py). Says so, and how to keep whole frames."""
    if gcfg.arch != "object-layers" or gcfg.moving_camera != "world" or cap.ids is None:
        return gcfg
    from ..world.camera_path import camera_path
    path = camera_path(cap)
    if path.rule == "still":
        return gcfg
    rep.status(f"train: {path.describe()}: object-layers draws its objects in 3-D there (object-world); "
               f"--moving-camera frames replays whole captured frames instead")
    return replace(gcfg, arch="object-world")


def _resumable_state(model_dir: Path, key: str, force: bool, rep: Reporter) -> Path:
    """The generator's resumable training state, kept only when it was made
    from the same inputs (embeddings + settings = ``key``): an interrupted
    training continues from it; ``force`` or changed inputs start over."""
    from ..workdir.artifacts import write_json as _write_json
    state_path = model_dir / "generator.train.pt"
    stamp = state_path.with_suffix(".json")
    if state_path.exists():
        try:
            same = read_json(stamp).get("key") == key
        except AliveError:
            same = False
        if force or not same:
            rep.status("train: discarding the earlier training state (" +
                       ("--force" if force else "inputs changed") + ")")
            state_path.unlink()
    _write_json(stamp, {"key": key})
    return state_path


def _model_fingerprint(wd: WorkDir) -> Optional[dict]:
    """The weight files' checksums from the manifest: what later stages' keys
    fold in, so a retrained model (say, --force train on a GPU, which need not
    be bit-exact) never leaves an earlier rollout looking current."""
    path = wd / MODEL / "manifest.json"
    if not path.exists():
        return None
    try:
        return read_json(path).get("files")
    except AliveError:
        return None


def _checked_manifest(wd: WorkDir, names: list, reporter: Optional[Reporter]) -> dict:
    """The model manifest, with checksums of ``names`` and of every other weight
    file it lists verified (a tampered model folder is refused whichever part a
    stage uses), and version / encoder mismatches refused (or warned about)."""
    from ..workdir.checkpoint import check_compatible, verify_manifest
    model_dir = wd / MODEL
    listed = read_json(model_dir / "manifest.json", "model manifest").get("files", {}) \
        if (model_dir / "manifest.json").exists() else {}
    manifest = verify_manifest(model_dir, sorted(set(names) | set(listed)))
    encoder_file = wd / EMBED / "encoder.json"
    identity = read_json(encoder_file).get("identity") if encoder_file.exists() else None
    for warning in check_compatible(manifest, model_dir, identity):
        _reporter(reporter).warning(warning)
    return manifest


def load_models(workdir, device: str = "cpu", reporter: Optional[Reporter] = None):
    from ..models.behavior import Behavior
    from ..models.generator import Generator
    wd = WorkDir(workdir)
    manifest = _checked_manifest(wd, ["generator.safetensors", "behavior.safetensors"], reporter)
    dim = int(manifest["dim"])
    return (Generator.load(wd / MODEL / "generator.safetensors", device, dim),
            Behavior.load(wd / MODEL / "behavior.safetensors", device, dim), manifest)


def load_behavior(workdir, device: str = "cpu", reporter: Optional[Reporter] = None):
    """The behavior model alone (a rollout needs no generator)."""
    from ..models.behavior import Behavior
    wd = WorkDir(workdir)
    manifest = _checked_manifest(wd, ["behavior.safetensors"], reporter)
    return Behavior.load(wd / MODEL / "behavior.safetensors", device, int(manifest["dim"]))


def rollout(workdir, settings: dict | None = None, out: Optional[Path] = None, device: str = "auto",
            reporter: Optional[Reporter] = None, force: bool = False) -> dict:
    """Roll the behavior model out (or walk the video texture) and save
    (K, N+1, D) embeddings; a prompt becomes a steering direction through the
    encoder's text tower."""
    from ..device import pick_device
    from ..models.behavior import WALK_ARCHS
    from ..rollout import RolloutConfig, rollout as run_rollout, start_frame
    rep = _reporter(reporter)
    wd = WorkDir(workdir)
    cfg = RolloutConfig.from_dict(settings or {})
    # only the default output is bookkept: a rollout written elsewhere always runs
    key = content_key("rollout", wd.stage_key("train"), _model_fingerprint(wd), cfg.to_dict()) \
        if out is None else None
    default_out = wd / ROLLOUT / "rollout.npy"
    if key and wd.stage_key("train") and wd.is_current("rollout", key, default_out,
                                                       default_out.with_suffix(".json"), force=force):
        rep.status("rollout: up to date")
        return read_json(default_out.with_suffix(".json"))
    dev = pick_device(device)
    emb = load_npy(wd / EMBED / "embeddings.npy", "embeddings")
    beh = None
    if cfg.mode == "model":
        beh = load_behavior(wd.root, dev, reporter=rep)
    direction = None
    if cfg.prompt:
        from ..models.steering import text_direction, workdir_encoder
        encoder = workdir_encoder(wd.root, dev)
        if not encoder.semantic:
            rep.warning(f"steering through {encoder.label}: the direction has no meaning")
        direction = text_direction(encoder, cfg.prompt, cfg.negative_prompt)
    what = f"'{beh.cfg.arch}'" if beh is not None else "video-texture walk"
    rep.status(f"rollout: {what} {cfg.count} x {cfg.steps} steps (seed {cfg.seed})")
    t0 = time.monotonic()
    states = walk_record = poses = None
    if beh is not None and beh.cfg.arch in WALK_ARCHS:
        from ..models.object_walk import rollout_states
        states = rollout_states(beh, emb, cfg, rep)
        traj, walk_record = _encode_states(wd, states, dev, rep, direction, cfg)
    elif beh is not None and beh.cfg.arch == "relational":
        from ..models.relational.drawing import draws_free_poses
        from ..models.relational.stepper import rollout_relational
        gen = load_generator(wd.root, dev, reporter=rep)
        free, why = draws_free_poses(beh, gen)
        rep.status(f"rollout: relational draws {'free' if free else 'captured'} poses: {why}")
        states, poses = rollout_relational(beh, emb, cfg, rep, free_poses=free)
        traj, walk_record = _encode_states(wd, states, dev, rep, direction, cfg, gen)
    else:
        traj = run_rollout(beh, emb, cfg, rep, steer_direction=direction)
    secs = time.monotonic() - t0
    out = Path(out) if out else wd / ROLLOUT / "rollout.npy"
    save_npy(out, traj)
    states_file = _states_file(out)
    if states is not None:
        save_npy(states_file, states.astype(np.int32))
    elif states_file.exists():
        states_file.unlink()   # an earlier walk's states do not belong to this rollout
    _save_poses(out, poses)
    info = {"settings": cfg.to_dict(), "behavior": beh.cfg.arch if beh is not None else None,
            "start_frame": start_frame(emb, cfg.start), "shape": list(traj.shape), "seconds": round(secs, 3),
            "steps_per_second": round(cfg.count * cfg.steps / max(secs, 1e-9), 1), "file": str(out)}
    if states is not None:
        info["states"] = str(states_file)
        info["objects"] = list(beh.objects)
        info["embeddings"] = walk_record   # what was encoded, and how a reader encodes the rest
    if poses is not None:
        info["poses"] = str(_poses_file(out))
        info["object_names"] = list(beh.object_names)
        from ..models.relational.drawing import CAPTURED, FREE, NOTES
        info["poses_drawn"] = FREE if free else CAPTURED
        info["poses_note"] = NOTES[info["poses_drawn"]]
    write_json(out.with_suffix(".json"), info)
    if key:
        wd.mark_done("rollout", key)
    return info


def _poses_file(rollout_file: Path) -> Path:
    """Per-object world matrices beside a rollout: R.npy -> R.poses.npy (K, N+1, M, 4, 4)."""
    return Path(rollout_file).with_suffix(".poses.npy")


def _save_poses(rollout_file: Path, poses) -> None:
    path = _poses_file(rollout_file)
    if poses is not None:
        save_npy(path, np.asarray(poses, np.float32))
    elif path.exists():
        path.unlink()   # an earlier relational rollout's poses do not belong to this one


def _states_file(rollout_file: Path) -> Path:
    """Per-object states beside a rollout: R.npy -> R.states.npy."""
    return Path(rollout_file).with_suffix(".states.npy")


def _free_poses(rollout_file: Path, gen):
    """(K, N, M, 4, 4) R.poses.npy when the rollout drew free poses (R.json ``poses_drawn``) and the
    generator draws explicit poses (object-world); else None (compose the states)."""
    from ..models.relational.drawing import FREE
    meta, poses_file = Path(rollout_file).with_suffix(".json"), _poses_file(rollout_file)
    if not (meta.exists() and poses_file.exists() and callable(getattr(gen, "compose_drawn", None))):
        return None
    if read_json(meta).get("poses_drawn") != FREE:
        return None
    return load_npy(poses_file, "rollout poses")


def _compose(gen, states: np.ndarray, first: int, width: int = 0, height: int = 0, frames=None,
             poses=None) -> dict:
    """States of invented frames first, first + 1, ... (or ``frames``) composed; a generator
    that draws through a moving camera (object-world) is told which frames they are; ``poses``
    (free-pose rollouts): those world matrices are drawn, the states are the shading hint."""
    if poses is not None:
        return gen.compose_drawn(poses, states, first + np.arange(len(states)) if frames is None else frames,
                                 width, height)
    if getattr(gen, "moving_camera", False):
        return gen.compose(states, width, height,
                           frames=first + np.arange(len(states)) if frames is None else frames)
    return gen.compose(states, width, height)


def _encode_states(wd: WorkDir, states: np.ndarray, device: str, rep: Reporter, direction, cfg, gen=None):
    """The scene-level embedding of every walk state (core/walk_encoding): captured
    frames from embeddings.npy, composed ones encoded once each in batches, and
    only when steering needs them now; the rest later, on demand. Returns the
    (K, N, D) rows and R.json's record of what was done. ``gen``: the generator,
    when the caller has loaded it already."""
    from ..sphere import normalize, slerp
    from ..rollout import curve
    from ..walk_encoding import record, walk_embeddings
    gen = gen if gen is not None else load_generator(wd.root, device, reporter=rep)
    strengths = curve(cfg.steer_strength, cfg.steps, "steering strength", 0.0, 1.0)
    steer = direction is not None and strengths.max() > 0
    encode = None
    if steer:   # the steered rows are made from every state's embedding
        from ..models.steering import workdir_encoder
        built = []

        def encode(images):   # the encoder is built only when a composed frame needs it
            if not built:
                built.append(workdir_encoder(wd.root, device))
            return built[0].encode_images(images)
    out, stats = walk_embeddings(gen, states, load_npy(wd / EMBED / "embeddings.npy", "embeddings"), encode,
                                 check_cancel=rep.check_cancel)
    rep.status(f"rollout: {stats['from_capture']} of {stats['rows']} frames are captured frames (their embeddings "
               f"known); {stats['composed']} distinct composed frames " +
               ("encoded" if steer else "left unencoded: nothing needs them now (encoded on demand)"))
    if steer:
        d = normalize(np.asarray(direction, np.float32).reshape(-1))
        for t in range(1, cfg.steps + 1):
            out[:, t] = slerp(out[:, t], np.broadcast_to(d, out[:, t].shape), float(strengths[t]))
    return out, record(stats, _walk_models(wd))


def _walk_models(wd: WorkDir) -> dict:
    """What a walk's composed frames are encoded with: the generator's checksum and the encode stage's key."""
    return {"generator": (_model_fingerprint(wd) or {}).get("generator.safetensors"),
            "encode": wd.stage_key("encode")}


def rollout_embeddings(workdir, rollout_file: Path, device: str = "cpu",
                       reporter: Optional[Reporter] = None) -> np.ndarray:
    """A rollout's (K, N, D) embeddings, a walk's unencoded rows (NaN; R.json
    says so) encoded now with the models that made the rest, or refused."""
    from ..walk_encoding import check_record, fill_missing, missing_rows
    wd = WorkDir(workdir)
    rollout_file = Path(rollout_file)
    traj = load_npy(rollout_file, "rollout")
    missing = missing_rows(traj)
    if not missing.any():
        return traj
    states_file = _states_file(rollout_file)
    if not states_file.exists():
        raise AliveError(f"'{rollout_file.name}' has {int(missing.sum())} rows that were never encoded and no "
                         f"states file ({states_file.name}) to encode them from",
                         "keep R.states.npy beside R.npy, or roll out again")
    meta = rollout_file.with_suffix(".json")
    check_record(read_json(meta) if meta.exists() else {}, _walk_models(wd), rollout_file.name)
    from ..models.steering import workdir_encoder
    rep = _reporter(reporter)
    rep.status(f"encoding the walk's {int(missing.sum())} composed frames on demand")
    traj, _ = fill_missing(traj, load_npy(states_file, "rollout states"), load_generator(wd.root, device, rep),
                           load_npy(wd / EMBED / "embeddings.npy", "embeddings"),
                           workdir_encoder(wd.root, device).encode_images, check_cancel=rep.check_cancel)
    return traj


def evaluate(workdir, rollout_file: Path) -> dict:
    """Metrics of a saved rollout against the work directory's observed embeddings."""
    from ..metrics import check_targets, evaluate as run_metrics
    wd = WorkDir(workdir)
    emb = load_npy(wd / EMBED / "embeddings.npy", "embeddings")
    traj = rollout_embeddings(wd.root, Path(rollout_file))   # a walk's unencoded rows: encoded now
    metrics = run_metrics(traj, emb)
    metrics["targets_met"] = check_targets(metrics)
    return metrics


def load_generator(workdir, device: str = "cpu", reporter: Optional[Reporter] = None):
    """The generator alone (decoding needs no behavior model), checksums verified once."""
    from ..models.generator import Generator
    wd = WorkDir(workdir)
    manifest = _checked_manifest(wd, ["generator.safetensors"], reporter)
    return Generator.load(wd / MODEL / "generator.safetensors", device, int(manifest["dim"]))


def decode(workdir, embeddings: np.ndarray, width: int, height: int, device: str = "auto") -> dict:
    """Embeddings -> float arrays in memory (small batches; files: ``decode_rollout`` / ``decode_to_dir``)."""
    from ..device import pick_device
    return load_generator(workdir, pick_device(device)).decode(np.asarray(embeddings, np.float32), width, height)


def decode_size(workdir, density: float = 1.0) -> tuple[int, int]:
    """Decode width/height: the training size times a point density."""
    info = read_json(WorkDir(workdir) / MODEL / "train.json", "training results (train the models first)")
    return max(1, round(info["width"] * density)), max(1, round(info["height"] * density))


def _model_dim(wd: WorkDir) -> int:
    """The trained model's embedding size (from its manifest), to check inputs against."""
    return int(read_json(wd / MODEL / "manifest.json", "model manifest (train the models first)")["dim"])


def _frame_names(n: int) -> list[str]:
    digits = max(5, len(str(n)))
    return [f"frame_{i + 1:0{digits}d}.png" for i in range(n)]


def _write_decoded(gen, emb: np.ndarray, out_dir: Path, width: int, height: int, rep: Reporter,
                   chunk: int = 32, arrays: bool = True, depth_pngs: bool = False,
                   states: Optional[np.ndarray] = None, frame_numbers: Optional[np.ndarray] = None,
                   poses: Optional[np.ndarray] = None) -> list[str]:
    """The one decode writer: ``emb`` (N, D) decoded ``chunk`` frames at a
    time into ``out_dir`` (complete or not at all), so memory stays bounded
    however long the sequence. Always one RGB PNG per frame (names sort in
    order) and ``depth/depth.npy`` or ``depth.npy`` (float32, scene units, inf
    = background); ``arrays``: also rgb.npy (uint8), depth.npy and alpha.npy
    (float32) for the bake; ``depth_pngs``: also a 16-bit PNG per frame in
    ``depth/`` (millimetres, 0 = background). ``states`` (N, M): an object
    walk's per-object states, composed by the generator instead of decoding
    ``emb``."""
    from ..workdir.artifacts import atomic_path
    from ..workdir.images import write_png
    n = len(emb)
    names = _frame_names(n)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        out = {}   # written straight to disk
        if arrays:
            out["rgb"] = np.lib.format.open_memmap(tmp / "rgb.npy", "w+", np.uint8, (n, height, width, 3))
            out["alpha"] = np.lib.format.open_memmap(tmp / "alpha.npy", "w+", np.float32, (n, height, width))
        depth_dir = tmp / "depth" if depth_pngs else tmp
        depth_dir.mkdir(exist_ok=True)
        out["depth"] = np.lib.format.open_memmap(depth_dir / "depth.npy", "w+", np.float32, (n, height, width))
        for i0 in range(0, n, chunk):
            rep.check_cancel()
            res = _compose(gen, states[i0:i0 + chunk], i0, width, height,
                           None if frame_numbers is None else frame_numbers[i0:i0 + chunk],
                           None if poses is None else poses[i0:i0 + chunk]) if states is not None \
                else gen.decode(emb[i0:i0 + chunk], width, height)
            rgb8 = (np.clip(res["rgb"], 0, 1) * 255 + 0.5).astype(np.uint8)
            bg = res["alpha"] < 0.5
            depth = res["depth"].astype(np.float32) if arrays else np.where(bg, np.inf, res["depth"]).astype(
                np.float32)
            i1 = i0 + len(rgb8)
            out["depth"][i0:i1] = depth
            if arrays:
                out["rgb"][i0:i1] = rgb8
                out["alpha"][i0:i1] = res["alpha"]
            for k, img in enumerate(rgb8):
                write_png(tmp / names[i0 + k], img)
                if depth_pngs:
                    mm = np.clip(np.where(bg[k], 0.0, depth[k] * 1000.0), 0, 65535).astype(np.uint16)
                    _write_png16(depth_dir / names[i0 + k], mm)
            rep.progress(i1 / n, f"decoded {i1}/{n}")
        for arr in out.values():
            arr.flush()
        del out
    return names


def decode_to_dir(workdir, embeddings: np.ndarray, out_dir: Path, width: int = 0, height: int = 0,
                  device: str = "auto", reporter: Optional[Reporter] = None, chunk: int = 32,
                  states: Optional[np.ndarray] = None, poses: Optional[np.ndarray] = None) -> dict:
    """Decode embeddings (N, D) or (K, N, D) to ``out_dir`` (``poses``: a free-pose rollout's
    world matrices, drawn with ``states`` as the hint): one RGB PNG per
    embedding, and in ``out_dir/depth`` a 16-bit PNG per embedding
    (millimetres of scene units, 0 = background) plus depth.npy (float32,
    scene units, inf = background)."""
    from ..device import pick_device
    rep = _reporter(reporter)
    wd = WorkDir(workdir)
    emb = check_embeddings(embeddings, _model_dim(wd), "embeddings file", missing_ok=states is not None)
    if emb.ndim == 3:
        emb = emb.reshape(-1, emb.shape[-1])
    if emb.ndim != 2 or len(emb) == 0:
        raise AliveError(f"embeddings of shape {tuple(np.shape(embeddings))} cannot be decoded",
                         "give a .npy of shape (N, D) (or (K, N, D) rollouts)")
    out_dir = Path(out_dir).absolute()
    if out_dir.exists() and not out_dir.is_dir():
        raise AliveError(f"'{out_dir}' exists and is not a folder", "choose another --out")
    if out_dir.is_dir():
        foreign = [p.name for p in out_dir.iterdir()
                   if not (p.name == "depth" or (p.name.startswith("frame_") and p.suffix == ".png"))]
        if foreign:
            raise AliveError(f"'{out_dir}' holds other files ({', '.join(sorted(foreign)[:3])}...)",
                             "decode into a new or empty folder (an earlier decode there is replaced)")
    gen = load_generator(wd.root, pick_device(device), rep)
    frame_numbers = None
    if states is not None:   # an object walk's states: composed, the embeddings only say how many
        states = np.asarray(states)
        # (K, N, M) rollouts: each variation's frames are invented frames 0..N-1 (its camera path)
        frame_numbers = np.tile(np.arange(states.shape[1]), states.shape[0]) if states.ndim == 3 else None
        states = states.reshape(-1, states.shape[-1]) if states.ndim >= 2 else states[:, None]
        if len(states) != len(emb):
            raise AliveError(f"{len(states)} states for {len(emb)} embeddings",
                             "give the states file the same rollout wrote (R.states.npy beside R.npy)")
        if not hasattr(gen, "compose"):
            raise AliveError("states were given but the generator cannot compose them",
                             "train with --generator object-layers, or decode without --states")
        poses = _flat_poses(poses, states, gen)
    if not width or not height:
        w0, h0 = decode_size(wd.root)
        width, height = width or w0, height or h0
    rep.status(f"decode: {len(emb)} {'object states (composed)' if states is not None else 'embeddings'} "
               f"at {width}x{height}")
    names = _write_decoded(gen, emb, out_dir, width, height, rep, chunk, arrays=False, depth_pngs=True,
                           states=states, frame_numbers=frame_numbers, poses=poses)
    return {"frames": int(len(emb)), "width": int(width), "height": int(height), "dir": str(out_dir),
            "first": names[0], "last": names[-1]}


def _flat_poses(poses, states: np.ndarray, gen):
    """A free-pose rollout's (N, M, 4, 4) or (K, N, M, 4, 4) poses as one row per (flat) state, checked."""
    if poses is None:
        return None
    if not callable(getattr(gen, "compose_drawn", None)):
        raise AliveError("poses were given but the generator draws only captured poses",
                         "train with --generator object-world, or decode the states alone")
    poses = np.asarray(poses, np.float64)
    poses = poses.reshape(-1, *poses.shape[-3:])
    if poses.shape[0] != len(states) or poses.shape[1] != states.shape[1]:
        raise AliveError(f"poses of shape {poses.shape[:2]} for states of shape {states.shape}",
                         "give the poses file the same rollout wrote (R.poses.npy beside R.npy)")
    return poses


def _write_png16(path: Path, img: np.ndarray) -> None:
    from PIL import Image
    Image.fromarray(np.ascontiguousarray(img, np.uint16)).save(path, format="PNG")


def capture_size(wd: WorkDir) -> tuple[int, int]:
    """The captured frames' (W, H): the most an output can show without upscaling."""
    meta = read_json(wd / CAPTURE / "meta.json", "capture metadata (run capture first)")
    return int(meta["width"]), int(meta["height"])


def output_size(workdir, width: int = 0, height: int = 0, allow_upscale: bool = False,
                reporter: Optional[Reporter] = None) -> tuple[int, int, bool]:
    """The (W, H) to decode at and whether that upscales: 0 = the working
    (training) size. A size above the capture's is refused, since no captured
    pixel backs it, unless ``allow_upscale``: then it is decoded, reported
    with a warning and flagged in the result (never silently)."""
    wd = WorkDir(workdir)
    info = read_json(wd / MODEL / "train.json", "training results (train the models first)")
    width, height = int(width or info["width"]), int(height or info["height"])
    if width < 1 or height < 1:
        raise AliveError(f"cannot decode at {width}x{height}", "give a positive width and height")
    cw, ch = capture_size(wd)
    upscaled = width > cw or height > ch
    if upscaled:
        if not allow_upscale:
            raise AliveError(f"output size {width}x{height} is larger than the {cw}x{ch} capture",
                             f"capture at {width}x{height} (e.g. --resolution {width}x{height}), decode at "
                             f"most {cw}x{ch}, or pass --allow-upscale to upscale on purpose")
        _reporter(reporter).warning(f"decoding at {width}x{height}, above the {cw}x{ch} capture: upscaled "
                                    f"(--allow-upscale)")
    return width, height, upscaled


# pixels decoded (and held) per chunk: ~1 frame at 1280x720; cancel is checked between chunks
DECODE_CHUNK_PIXELS = 1 << 20


def decode_rollout(workdir, rollout_file: Optional[Path] = None, variation: int = 0,
                   width: int = 0, height: int = 0, out_dir: Optional[Path] = None, density: float = 1.0,
                   device: str = "auto", reporter: Optional[Reporter] = None, force: bool = False,
                   allow_upscale: bool = False) -> dict:
    """Decode one rollout variation to ``out_dir`` (default WORKDIR/decoded):
    rgb.npy uint8 (N,H,W,3), depth.npy, alpha.npy float32, plus one PNG per
    frame (what the bake links as its image sequence). ``width``/``height``:
    the output size (0 = the working size times ``density``); above the
    capture's see ``output_size``. Streamed: frames are decoded and written a
    chunk at a time (memory stays bounded at any size, cancel is checked
    between chunks); the folder appears whole or not at all."""
    from ..device import pick_device
    rep = _reporter(reporter)
    wd = WorkDir(workdir)
    if (not width or not height) and density != 1.0:
        width, height = decode_size(wd.root, density)
    width, height, upscaled = output_size(wd.root, width, height, allow_upscale, rep)
    key = None
    if rollout_file is None and out_dir is None and wd.stage_key("rollout"):
        key = content_key("decode", wd.stage_key("rollout"), _model_fingerprint(wd), variation, width, height)
        done = wd.stage_info("decode").get("result")
        if done and wd.is_current("decode", key, wd / "decoded" / "rgb.npy", force=force):
            rep.status("decode: up to date")
            return dict(done, dir=str(wd / "decoded"))  # the work directory may have moved since
    traj = load_npy(Path(rollout_file) if rollout_file else wd / ROLLOUT / "rollout.npy", "rollout")
    has_states = _states_file(Path(rollout_file) if rollout_file else wd / ROLLOUT / "rollout.npy").exists()
    traj = check_embeddings(traj, _model_dim(wd), "rollout", missing_ok=has_states)  # states: composed
    if traj.ndim == 2:
        traj = traj[None]
    if not 0 <= variation < len(traj):
        raise AliveError(f"rollout has {len(traj)} variations; {variation} does not exist", "pick a smaller index")
    gen = load_generator(wd.root, pick_device(device), rep)
    states = poses = None
    states_file = _states_file(Path(rollout_file) if rollout_file else wd / ROLLOUT / "rollout.npy")
    if states_file.exists():
        if not hasattr(gen, "compose"):
            raise AliveError(f"the rollout has per-object states ({states_file.name}) but the generator "
                             "cannot compose them", "train with --generator object-layers, or roll out again")
        states = load_npy(states_file, "rollout states")[variation]
        poses = _free_poses(Path(rollout_file) if rollout_file else wd / ROLLOUT / "rollout.npy", gen)
        if poses is not None:
            poses = poses[variation]
        rep.status(f"decode: {traj.shape[1]} frames at {width}x{height}, composed from object layers"
                   + (" (the rollout's free poses, R.poses.npy)" if poses is not None else ""))
    else:
        rep.status(f"decode: {traj.shape[1]} frames at {width}x{height}")
    out_dir = Path(out_dir) if out_dir else wd / "decoded"
    chunk = max(1, DECODE_CHUNK_PIXELS // (width * height))
    _write_decoded(gen, np.asarray(traj[variation], np.float32), out_dir, width, height, rep, chunk=chunk,
                   states=states, poses=poses)
    result = {"frames": int(traj.shape[1]), "width": width, "height": height, "dir": str(out_dir)}
    if upscaled:
        result["upscaled"] = True
    if key:
        wd.mark_done("decode", key, result=result)
    return result


PREVIEW_TILE_WIDTH = 320   # contact-sheet tiles of larger frames are reduced to this width


def preview(workdir, decoded_dir: Optional[Path] = None, out: Optional[Path] = None, columns: int = 8) -> Path:
    """Contact sheet: captured frames (top) over rolled-out decoded frames.
    Reads only the frames it shows (the decoded arrays memory-mapped), with
    tiles at most PREVIEW_TILE_WIDTH wide."""
    from ..workdir.dataset import open_capture
    from ..workdir.images import contact_sheet, resize, write_png
    wd = WorkDir(workdir)
    cap = open_capture(wd.root)
    dec = np.load(Path(decoded_dir or wd / "decoded") / "rgb.npy", mmap_mode="r")
    W, H = cap.size
    if W > PREVIEW_TILE_WIDTH:
        W, H = PREVIEW_TILE_WIDTH, max(1, round(cap.height * PREVIEW_TILE_WIDTH / cap.width))

    def picked(n):
        return np.linspace(0, n - 1, min(columns, n)).round().astype(int)

    def tiles(frames):
        return np.stack([f if f.shape[:2] == (H, W) else resize(f, W, H) for f in frames])

    real = np.nonzero(cap.is_real_frame)[0]
    captured = tiles([cap.read(int(i))[0] for i in real[picked(len(real))]])
    half = len(dec) // 2
    rows = [("captured", captured)]
    for lo, hi in ((0, half), (half, len(dec))):
        if hi > lo:
            rows.append(("rolled out", tiles([np.asarray(dec[lo + i]) for i in picked(hi - lo)])))
    sheet = contact_sheet(rows, columns)
    out = Path(out) if out else wd / "preview.png"
    write_png(out, sheet)
    return out
