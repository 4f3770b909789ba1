"""The bpy-free stages: encode, train, rollout, decode, preview.

Each stage reads what earlier stages left in the work directory, writes its
own artifacts atomically, and records a content key of its inputs in
``alive.json``; with unchanged inputs a stage returns its earlier result
without recomputing (``force=True`` re-runs it). These functions are what the
worker process, the CLI and the tests call.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np

from ..workdir.artifacts import (CAPTURE, EMBED, MODEL, ROLLOUT, WorkDir, content_key, load_npy, read_json,
                        save_npy, write_json)
from ..errors import AliveError
from .protocol import Reporter


def _reporter(rep: Optional[Reporter]) -> Reporter:
    return rep or Reporter()


def capture_key(wd: WorkDir) -> str:
    meta = read_json(wd / CAPTURE / "meta.json", "capture metadata (run capture first)")
    return meta.get("key") or content_key(meta)


def encode(workdir, spec, device: str = "auto", force: bool = False, reporter: Optional[Reporter] = None) -> dict:
    from ..workdir.dataset import load_capture
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
    cap = load_capture(wd.root)
    embs = []
    n = len(cap.rgb)
    batch = 16
    for i in range(0, n, batch):
        rep.check_cancel()
        embs.append(encoder.encode_images(cap.rgb[i:i + batch]))
        rep.progress(min(n, i + batch) / n, f"encoded {min(n, i + batch)}/{n} frames")
    emb = np.concatenate(embs).astype(np.float32)
    info = {"label": encoder.label, "semantic": bool(encoder.semantic), "dim": int(emb.shape[1]),
            "spec": spec.to_dict(), "identity": spec.identity(), "count": int(len(emb))}
    save_npy(out, emb)
    write_json(wd / EMBED / "encoder.json", info)
    wd.mark_done("encode", key, label=encoder.label)
    return info


def train(workdir, generator: dict | None = None, behavior: dict | None = None, device: str = "auto",
          force: bool = False, reporter: Optional[Reporter] = None) -> dict:
    from ..models.behavior import EMBEDDING_DEFAULT, WALK_ARCHS, BehaviorConfig, train_behavior
    from ..workdir.checkpoint import write_manifest
    from ..workdir.dataset import load_capture
    from ..device import pick_device
    from ..models.generator import LAYER_ARCHS, GeneratorConfig, psnr, train_generator
    rep = _reporter(reporter)
    wd = WorkDir(workdir)
    gcfg = GeneratorConfig.from_dict(generator or {})
    behavior = dict(behavior or {})
    if "arch" not in behavior and gcfg.arch not in LAYER_ARCHS:
        behavior["arch"] = EMBEDDING_DEFAULT   # a generator of embeddings gets a behavior of embeddings
    bcfg = BehaviorConfig.from_dict(behavior)
    if bcfg.arch in WALK_ARCHS and gcfg.arch not in LAYER_ARCHS:
        raise AliveError(f"behavior '{bcfg.arch}' walks captured objects; only the object-layers generator can "
                         f"show its states, not '{gcfg.arch}'",
                         "use --generator object-layers, or an embedding behavior such as --behavior mdn-window")
    embed_key = wd.stage_key("encode")
    if embed_key is None:
        raise AliveError(f"no embeddings in '{wd.root}'", "run encode first")
    key = content_key("train", embed_key, gcfg.to_dict(), bcfg.to_dict())
    model_dir = wd / MODEL
    if not force and wd.stage_key("train") == key and (model_dir / "manifest.json").exists():
        rep.status("train: up to date")
        return read_json(model_dir / "train.json")
    dev = pick_device(device)
    emb = load_npy(wd / EMBED / "embeddings.npy", "embeddings")
    encoder_info = read_json(wd / EMBED / "encoder.json")
    cap = load_capture(wd.root)
    model_dir.mkdir(parents=True, exist_ok=True)
    state_path = _resumable_state(model_dir, key, force, rep)

    rep.status(f"train: generator '{gcfg.arch}' on {len(emb)} frames {cap.rgb.shape[2]}x{cap.rgb.shape[1]} ({dev})")
    t0 = time.monotonic()
    # real subframes, when captured, are trained on as they are; otherwise
    # slerped in-between embeddings against blended frames stand in for them
    has_subframes = not bool(np.all(cap.is_real_frame))
    if gcfg.arch in LAYER_ARCHS:
        from ..models.layers import train_layers
        gen = train_layers(emb, cap, gcfg, rep)   # built from the capture's pixels: nothing to fit
    else:
        gen = train_generator(emb, cap.rgb, cap.depth, cap.alpha, gcfg, rep, dev, state_path,
                              interpolate=False if has_subframes else None)
    t_gen = time.monotonic() - t0
    H, W = cap.rgb.shape[1:3]
    dec = gen.decode(emb, W, H)
    train_psnr = psnr(dec["rgb"], cap.rgb.astype(np.float32) / 255.0)
    rep.metric("generator_psnr", train_psnr)
    rep.status(f"train: generator {gen.steps_done} steps in {t_gen:.1f} s, {train_psnr:.2f} dB on the capture")

    rep.status(f"train: behavior '{bcfg.arch}'")
    t0 = time.monotonic()
    if bcfg.arch in WALK_ARCHS:
        from ..models.object_walk import train_object_walk
        beh = train_object_walk(emb, cap, behavior or {}, rep)
    else:
        beh = train_behavior(emb[np.asarray(cap.is_real_frame)], bcfg, rep, dev)
    t_beh = time.monotonic() - t0

    gen.save(model_dir / "generator.safetensors")
    beh.save(model_dir / "behavior.safetensors")
    result = {"generator": gcfg.arch, "behavior": bcfg.arch, "generator_steps": gen.steps_done,
              "generator_seconds": round(t_gen, 2), "behavior_seconds": round(t_beh, 2),
              "train_psnr": round(train_psnr, 2), "device": dev, "encoder": encoder_info["label"],
              "width": int(W), "height": int(H)}
    write_json(model_dir / "train.json", result)
    write_manifest(model_dir, ["generator.safetensors", "behavior.safetensors"],
                   {"encoder": encoder_info["identity"], "encoder_label": encoder_info["label"],
                    "dim": int(emb.shape[1]), "generator": gcfg.to_dict(), "behavior": bcfg.to_dict()})
    for done in (state_path, state_path.with_suffix(".json")):
        if done.exists():
            done.unlink()  # finished: the resumable state has served its purpose
    wd.mark_done("train", key, **result)
    return result


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
    from ..rollout import RolloutConfig, rollout as run_rollout
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
    states = None
    if beh is not None and beh.cfg.arch in WALK_ARCHS:
        from ..models.object_walk import rollout_states
        states = rollout_states(beh, emb, cfg, rep)
        traj = _encode_states(wd, states, dev, rep, direction, cfg)
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
    info = {"settings": cfg.to_dict(), "behavior": beh.cfg.arch if beh is not None else None,
            "shape": list(traj.shape), "seconds": round(secs, 3),
            "steps_per_second": round(cfg.count * cfg.steps / max(secs, 1e-9), 1), "file": str(out)}
    if states is not None:
        info["states"] = str(states_file)
        info["objects"] = list(beh.objects)
    write_json(out.with_suffix(".json"), info)
    if key:
        wd.mark_done("rollout", key)
    return info


def _states_file(rollout_file: Path) -> Path:
    """Per-object states beside a rollout: R.npy -> R.states.npy."""
    return Path(rollout_file).with_suffix(".states.npy")


def _encode_states(wd: WorkDir, states: np.ndarray, device: str, rep: Reporter, direction, cfg) -> np.ndarray:
    """The scene-level embedding of every composed frame (work directory's encoder), so
    metrics, steering and the bake's trajectory read a walk like any rollout."""
    from ..models.steering import workdir_encoder
    from ..sphere import normalize, slerp
    from ..rollout import curve
    gen, _, _ = load_models(wd.root, device, reporter=rep)
    encoder = workdir_encoder(wd.root, device)
    K, N, _ = states.shape
    out = np.empty((K, N, gen.dim), np.float32)
    for k in range(K):
        for i0 in range(0, N, 16):
            rep.check_cancel()
            frames = gen.compose(states[k, i0:i0 + 16])["rgb"]
            out[k, i0:i0 + 16] = encoder.encode_images((frames * 255 + 0.5).astype(np.uint8))
    out = normalize(out)
    strengths = curve(cfg.steer_strength, cfg.steps, "steering strength", 0.0, 1.0)
    if direction is not None and strengths.max() > 0:
        d = normalize(np.asarray(direction, np.float32).reshape(-1))
        for t in range(1, cfg.steps + 1):
            out[:, t] = slerp(out[:, t], np.broadcast_to(d, out[:, t].shape), float(strengths[t]))
    return out


def evaluate(workdir, rollout_file: Path) -> dict:
    """Metrics of a saved rollout against the work directory's observed embeddings."""
    from ..metrics import check_targets, evaluate as run_metrics
    wd = WorkDir(workdir)
    emb = load_npy(wd / EMBED / "embeddings.npy", "embeddings")
    traj = load_npy(Path(rollout_file), "rollout")
    metrics = run_metrics(traj, emb)
    metrics["targets_met"] = check_targets(metrics)
    return metrics


def decode(workdir, embeddings: np.ndarray, width: int, height: int, device: str = "auto") -> dict:
    from ..device import pick_device
    gen, _, _ = load_models(workdir, pick_device(device))
    return gen.decode(np.asarray(embeddings, np.float32), width, height)


def _frame_names(n: int) -> list[str]:
    digits = max(5, len(str(n)))
    return [f"frame_{i + 1:0{digits}d}.png" for i in range(n)]


def decode_to_dir(workdir, embeddings: np.ndarray, out_dir: Path, width: int = 0, height: int = 0,
                  device: str = "auto", reporter: Optional[Reporter] = None, chunk: int = 32,
                  states: Optional[np.ndarray] = None) -> dict:
    """Decode embeddings (N, D) or (K, N, D) to ``out_dir``: one RGB PNG per
    embedding (names sort in order), and in ``out_dir/depth`` a 16-bit PNG per
    embedding (millimetres of scene units, 0 = background) plus depth.npy
    (float32, scene units, inf = background). Frames are decoded and written
    in chunks, so memory stays bounded for long sequences at large sizes; the
    folder appears complete or not at all."""
    from ..workdir.artifacts import atomic_path
    from ..device import pick_device
    from ..workdir.images import write_png
    rep = _reporter(reporter)
    wd = WorkDir(workdir)
    emb = np.asarray(embeddings, np.float32)
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
    gen, _, _ = load_models(wd.root, pick_device(device))
    if states is not None:   # an object walk's states: composed, the embeddings only say how many
        states = np.asarray(states)
        states = states.reshape(-1, states.shape[-1]) if states.ndim >= 2 else states[:, None]
        if len(states) != len(emb):
            raise AliveError(f"{len(states)} states for {len(emb)} embeddings",
                             "give the states file the same rollout wrote (R.states.npy beside R.npy)")
        if not hasattr(gen, "compose"):
            raise AliveError("states were given but the generator cannot compose them",
                             "train with --generator object-layers, or decode without --states")
    if not width or not height:
        info = read_json(wd / MODEL / "train.json")
        width, height = width or info["width"], height or info["height"]
    names = _frame_names(len(emb))
    rep.status(f"decode: {len(emb)} {'object states (composed)' if states is not None else 'embeddings'} "
               f"at {width}x{height}")
    with atomic_path(out_dir) as tmp:
        (tmp / "depth").mkdir(parents=True)
        # written straight to disk: memory stays bounded however many frames
        depth_all = np.lib.format.open_memmap(tmp / "depth" / "depth.npy", mode="w+", dtype=np.float32,
                                              shape=(len(emb), height, width))
        for i0 in range(0, len(emb), chunk):
            rep.check_cancel()
            res = gen.compose(states[i0:i0 + chunk], width, height) if states is not None \
                else gen.decode(emb[i0:i0 + chunk], width, height)
            bg = res["alpha"] < 0.5
            depth = np.where(bg, np.inf, res["depth"]).astype(np.float32)
            depth_all[i0:i0 + len(depth)] = depth
            mm = np.clip(np.where(bg, 0.0, depth * 1000.0), 0, 65535).astype(np.uint16)
            for k, (img, dm) in enumerate(zip(res["rgb"], mm)):
                write_png(tmp / names[i0 + k], img)
                _write_png16(tmp / "depth" / names[i0 + k], dm)
            rep.progress(min(len(emb), i0 + chunk) / len(emb), f"decoded {min(len(emb), i0 + chunk)}/{len(emb)}")
        depth_all.flush()
        del depth_all
    return {"frames": int(len(emb)), "width": int(width), "height": int(height), "dir": str(out_dir),
            "first": names[0], "last": names[-1]}


def _write_png16(path: Path, img: np.ndarray) -> None:
    from PIL import Image
    Image.fromarray(np.ascontiguousarray(img, np.uint16)).save(path, format="PNG")


def decode_rollout(workdir, rollout_file: Optional[Path] = None, variation: int = 0,
                   width: int = 0, height: int = 0, out_dir: Optional[Path] = None,
                   device: str = "auto", reporter: Optional[Reporter] = None, force: bool = False) -> dict:
    """Decode one rollout variation to arrays in ``out_dir`` (default
    WORKDIR/decoded): rgb.npy uint8 (N,H,W,3), depth.npy, alpha.npy float32,
    plus one PNG per frame."""
    from ..workdir.artifacts import atomic_path
    from ..workdir.images import write_png
    rep = _reporter(reporter)
    wd = WorkDir(workdir)
    key = None
    if rollout_file is None and out_dir is None and wd.stage_key("rollout"):
        key = content_key("decode", wd.stage_key("rollout"), _model_fingerprint(wd), variation, width, height)
        done = wd.stage_info("decode").get("result")
        if done and wd.is_current("decode", key, wd / "decoded" / "rgb.npy", force=force):
            rep.status("decode: up to date")
            return dict(done, dir=str(wd / "decoded"))  # the work directory may have moved since
    traj = load_npy(Path(rollout_file) if rollout_file else wd / ROLLOUT / "rollout.npy", "rollout")
    if traj.ndim == 2:
        traj = traj[None]
    if not 0 <= variation < len(traj):
        raise AliveError(f"rollout has {len(traj)} variations; {variation} does not exist", "pick a smaller index")
    train_info = read_json(wd / MODEL / "train.json")
    width = width or train_info["width"]
    height = height or train_info["height"]
    states_file = _states_file(Path(rollout_file) if rollout_file else wd / ROLLOUT / "rollout.npy")
    if states_file.exists():
        from ..device import pick_device
        gen, _, _ = load_models(wd.root, pick_device(device), reporter=rep)
        if not hasattr(gen, "compose"):
            raise AliveError(f"the rollout has per-object states ({states_file.name}) but the generator "
                             "cannot compose them", "train with --generator object-layers, or roll out again")
        rep.status(f"decode: {traj.shape[1]} frames at {width}x{height}, composed from object layers")
        res = gen.compose(load_npy(states_file, "rollout states")[variation], width, height)
    else:
        rep.status(f"decode: {traj.shape[1]} frames at {width}x{height}")
        res = decode(wd.root, traj[variation], width, height, device)
    out_dir = Path(out_dir) if out_dir else wd / "decoded"
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        rgb8 = (np.clip(res["rgb"], 0, 1) * 255 + 0.5).astype(np.uint8)
        np.save(tmp / "rgb.npy", rgb8)
        np.save(tmp / "depth.npy", res["depth"].astype(np.float32))
        np.save(tmp / "alpha.npy", res["alpha"].astype(np.float32))
        for i, img in enumerate(rgb8):
            write_png(tmp / f"frame_{i + 1:05d}.png", img)
    result = {"frames": int(traj.shape[1]), "width": width, "height": height, "dir": str(out_dir)}
    if key:
        wd.mark_done("decode", key, result=result)
    return result


def preview(workdir, decoded_dir: Optional[Path] = None, out: Optional[Path] = None) -> Path:
    """Contact sheet: captured frames (top) over rolled-out decoded frames."""
    from ..workdir.dataset import load_capture
    from ..workdir.images import contact_sheet, resize, write_png
    wd = WorkDir(workdir)
    cap = load_capture(wd.root)
    dec = np.load(Path(decoded_dir or wd / "decoded") / "rgb.npy")
    H, W = cap.rgb.shape[1:3]
    if dec.shape[1:3] != (H, W):
        dec = np.stack([resize(f, W, H) for f in dec])
    sheet = contact_sheet([("captured", cap.rgb[cap.is_real_frame]), ("rolled out", dec[:len(dec) // 2]),
                           ("rolled out", dec[len(dec) // 2:])])
    out = Path(out) if out else wd / "preview.png"
    write_png(out, sheet)
    return out
