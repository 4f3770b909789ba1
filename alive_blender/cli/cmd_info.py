"""``info WORKDIR``: what a work directory (or a batch output folder) holds."""

from __future__ import annotations

import sys


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="what a work directory holds (stages done, model, checksums)",
                       description="Describe WORKDIR: which stages ran and with which key, the capture, the "
                                   "encoder, the model (versions, settings, checksum check), an interrupted "
                                   "training's step, the rollout and the preview. For a batch output folder, "
                                   "the shots' summary. Reads only; needs no Blender scene.")
    p.add_argument("workdir", help="a work directory (from run) or a batch output folder")
    p.set_defaults(func=execute)


def describe(workdir) -> dict:
    from ..core.workdir.artifacts import CAPTURE, EMBED, MODEL, ROLLOUT, STATE_FILE, WorkDir, read_json
    from ..core.errors import AliveError
    wd = WorkDir(workdir)
    if not wd.root.is_dir():
        raise AliveError(f"work directory not found: '{wd.root}'", "give the --out folder of run or batch")
    info: dict = {"workdir": str(wd.root)}
    summaries = sorted(wd.root.glob("batch*.json"), key=lambda p: p.stat().st_mtime)
    if summaries:
        # batch.json, plus batch-NAME.json from partial runs (--only); the newest record of a shot wins
        shots, runners, seconds = {}, [], 0.0
        for path in summaries:
            batch = read_json(path, "batch summary")
            runners.append(batch.get("runner"))
            seconds += float(batch.get("seconds") or 0)
            for r in batch.get("shots", []):
                shots[r["name"]] = {k: r.get(k) for k in ("name", "status", "exit_code", "seconds", "workdir",
                                                         "saved", "error") if r.get(k) is not None}
        info["shots"] = list(shots.values())
        info["batch"] = {"runner": ", ".join(sorted(set(map(str, runners)))), "seconds": round(seconds, 1),
                         "ok": sum(s["exit_code"] == 0 for s in info["shots"]),
                         "failed": sum(s["exit_code"] != 0 for s in info["shots"])}
        return info
    if not (wd / STATE_FILE).exists() and not (wd / CAPTURE).exists():
        raise AliveError(f"'{wd.root}' is not an alive work directory (no {STATE_FILE})",
                         "give the --out folder of run or batch")
    from ..core.run.table import BY_NAME
    info["stages"] = {name: {"key": st.get("key"), "covers": BY_NAME[name].key if name in BY_NAME else ""}
                      for name, st in wd.state().get("stages", {}).items()}
    meta_path = wd / CAPTURE / "meta.json"
    if meta_path.exists():
        meta = read_json(meta_path)
        frames = [s.get("frame") for s in meta.get("samples", [])]
        info["capture"] = {"source": meta.get("source"), "samples": len(frames),
                           "frames": [min(frames), max(frames)] if frames else [],
                           "size": f"{meta.get('width')}x{meta.get('height')}", "engine": meta.get("engine"),
                           "camera": meta.get("camera"), "scene": meta.get("scene"),
                           "has_depth": meta.get("has_depth")}
        if meta.get("object_ids"):
            from ..core.world.deformation import deforming_objects
            found = deforming_objects(meta.get("samples", []), [int(k) for k in meta["object_ids"]])
            info["capture"]["deforming"] = {meta["object_ids"][str(o)]: k for o, k in found.items()}
    if (wd / EMBED / "encoder.json").exists():
        enc = read_json(wd / EMBED / "encoder.json")
        info["encoder"] = {k: enc.get(k) for k in ("label", "semantic", "dim", "count")}
    model_dir = wd / MODEL
    if (model_dir / "manifest.json").exists():
        manifest = read_json(model_dir / "manifest.json")
        model = {"versions": manifest.get("versions"), "encoder": manifest.get("encoder_label"),
                 "generator": (manifest.get("generator") or {}).get("arch"),
                 "behavior": (manifest.get("behavior") or {}).get("arch"),
                 "files": sorted(manifest.get("files", {}))}
        if (model_dir / "train.json").exists():
            tr = read_json(model_dir / "train.json")
            model.update({k: tr.get(k) for k in ("generator_steps", "train_psnr", "device", "width", "height")})
            if tr.get("behavior_choice"):   # a behavior that chooses (relational, or its walk fallback)
                model.update(behavior=tr.get("behavior"), **{k: tr.get(k) for k in (
                    "behavior_choice", "behavior_loss", "behavior_seconds")})
        try:
            from ..core.workdir.checkpoint import check_compatible, verify_manifest
            verify_manifest(model_dir, list(manifest.get("files", {})))
            enc_id = read_json(wd / EMBED / "encoder.json").get("identity") if (wd / EMBED / "encoder.json").exists() \
                else None
            warnings = check_compatible(manifest, model_dir, enc_id)
            model["check"] = "ok" + (f" ({'; '.join(warnings)})" if warnings else "")
        except AliveError as err:
            model["check"] = f"FAILED: {err}"
        info["model"] = model
    state = model_dir / "generator.train.pt"
    if state.exists():
        from ..core.workdir.checkpoint import load_training_state
        try:
            saved = load_training_state(state)
            info["training_in_progress"] = {"step": int(saved["step"]),
                                            "of": int((saved.get("config") or {}).get("steps", 0))}
        except AliveError as err:
            info["training_in_progress"] = {"error": str(err)}
    if (wd / ROLLOUT / "rollout.json").exists():
        ro = read_json(wd / ROLLOUT / "rollout.json")
        info["rollout"] = {"shape": ro.get("shape"), "seed": (ro.get("settings") or {}).get("seed")}
    if (wd / "decoded" / "rgb.npy").exists():
        info["decoded"] = str(wd / "decoded")
    for key, name in (("preview", "preview.png"), ("baked", "alive.blend")):
        if (wd / name).exists():
            info[key] = str(wd / name)
    return info


def format_info(info: dict) -> str:
    lines = [f"work directory: {info['workdir']}"]
    if "batch" in info:
        b = info["batch"]
        lines.append(f"batch: {b.get('ok')} ok, {b.get('failed')} failed, {b.get('seconds')} s, {b.get('runner')}")
        for s in info["shots"]:
            lines.append(f"  {s['name']:<16} {s['status']:<14} {s.get('saved') or s.get('error') or ''}")
        return "\n".join(lines)
    from ..core.run.table import FORCEABLE as order   # the stages that record a key, in run order
    stages = info.get("stages", {})
    lines.append("stages: " + ", ".join(f"{n} {'done' if n in stages else '-'}" for n in order))
    if "capture" in info:
        c = info["capture"]
        fr = c["frames"]
        lines.append(f"capture: {c['samples']} samples, frames {fr[0]}-{fr[1]}, {c['size']}, {c['source']}, "
                     f"{c['engine']}, camera {c['camera']}" if fr else f"capture: {c}")
        if c.get("deforming"):
            lines.append("deforming objects (a cloud per state): " +
                         ", ".join(f"{n} {k} states" for n, k in c["deforming"].items()))
    if "encoder" in info:
        e = info["encoder"]
        lines.append(f"encoder: {e['label']} (dim {e['dim']}{'' if e['semantic'] else ', NOT semantic'})")
    if "model" in info:
        m = info["model"]
        v = m.get("versions") or {}
        lines.append(f"model: {m.get('generator')} + {m.get('behavior')}, {m.get('generator_steps')} steps, "
                     f"PSNR {m.get('train_psnr')} dB on {m.get('device')}; alive_blender {v.get('alive_blender')}, "
                     f"torch {v.get('torch')}, open_clip {v.get('open_clip')}")
        if m.get("behavior_choice"):
            lines.append(f"behavior: {m['behavior_choice']}; loss {m.get('behavior_loss')}, "
                         f"{m.get('behavior_seconds')} s")
        lines.append(f"model check: {m.get('check')}")
    if "training_in_progress" in info:
        t = info["training_in_progress"]
        lines.append(f"training state at step {t.get('step')} of {t.get('of')} (running now, or interrupted: "
                     f"the next run continues from it)"
                     if "step" in t else f"training state: {t.get('error')}")
    if "rollout" in info:
        lines.append(f"rollout: shape {info['rollout']['shape']}, seed {info['rollout']['seed']}")
    for key in ("decoded", "preview", "baked"):
        if key in info:
            lines.append(f"{key}: {info[key]}")
    return "\n".join(lines)


def execute(args, reporter) -> dict:
    info = describe(args.workdir)
    if not args.json:
        print(format_info(info), file=sys.stdout)
    return info
