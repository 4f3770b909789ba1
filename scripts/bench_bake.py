"""Benchmark the bake: F frames x (W*H) points of synthetic decoded data.

Measures, side by side in one run:
  * unprojection: the foundation's per-frame Python loop vs the vectorized one (ratio)
  * the points bake (excluding decoding): unproject + attribute writes + object/GN/material
  * attribute writes alone: positions, frame index, colour through foreach_set (points/s)
  * full bakes with an atlas texture + card and with an image sequence + card
  * frame evaluation: frame_set + evaluated point cloud (ms per frame)
  * the saved .blend's size, and the time to reopen it

  python scripts/bench_bake.py [--frames 200 --width 128 --height 128] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def loop_unproject(depth, alpha, K, pose, rgb):
    """The foundation's bake_points preparation: one unproject call per frame."""
    from alive_blender.core.camera import unproject
    pos_list, col_list, frame_list = [], [], []
    for i in range(depth.shape[0]):
        keep = (alpha[i] > 0.5) & np.isfinite(depth[i]) & (depth[i] > 0)
        pos_list.append(unproject(depth[i], K, pose)[keep].astype(np.float32))
        col = rgb[i][keep].astype(np.float32) / 255.0
        col_list.append(np.concatenate([col, np.ones((len(col), 1), np.float32)], axis=1))
        frame_list.append(np.full(len(col), i, np.int32))
    return np.concatenate(pos_list), np.concatenate(col_list), np.concatenate(frame_list)


def best_of(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--height", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs for each timing")
    ap.add_argument("--eval-frames", type=int, default=40, help="frames to time evaluation on")
    ap.add_argument("--json", default="", help="also write the results here")
    args = ap.parse_args(argv)

    import bpy

    from alive_blender.blender.bake.points import BakeSettings, bake, point_colors, unproject_frames
    from alive_blender.blender.scenefile import save_blend
    from alive_blender.core.camera import CameraParams, intrinsics

    F, W, H = args.frames, args.width, args.height
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (F, H, W, 3), dtype=np.uint8)
    depth = rng.uniform(2.0, 8.0, (F, H, W)).astype(np.float32)
    alpha = np.ones((F, H, W), np.float32)
    decoded = {"rgb": rgb, "depth": depth, "alpha": alpha}
    K = intrinsics(CameraParams(35.0, 36.0, 24.0, "AUTO", 0.05, 0.0, W, H))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    scene.collection.objects.link(cam)
    scene.camera = cam
    cam.location = (0.0, -8.0, 1.0)
    bpy.context.view_layer.update()
    pose = np.array(cam.matrix_world)
    n_points = F * W * H
    res = {"frames": F, "width": W, "height": H, "points": n_points, "repeat": args.repeat,
           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs visible, load {os.getloadavg()[0]:.1f}",
           "blender": bpy.app.version_string}

    t_loop, _ = best_of(lambda: loop_unproject(depth, alpha, K, pose, rgb), args.repeat)

    def vectorized():
        pos, fi, keep = unproject_frames(depth, alpha, K, pose)
        return pos, fi, point_colors(rgb, keep)
    t_vec, (pos, fi, col) = best_of(vectorized, args.repeat)
    res["unproject_loop_s"], res["unproject_vectorized_s"] = t_loop, t_vec

    # attribute writes alone (the vertex allocation is timed apart from the writes)
    def attr_writes():
        mesh = bpy.data.meshes.new("bench")
        t = time.perf_counter()
        mesh.vertices.add(len(pos))
        t_alloc = time.perf_counter() - t
        t = time.perf_counter()
        mesh.attributes["position"].data.foreach_set("vector", pos.ravel())
        mesh.attributes.new("alive_frame", "INT", "POINT").data.foreach_set("value", fi)
        mesh.attributes.new("alive_rgb", "FLOAT_COLOR", "POINT").data.foreach_set("color", col.ravel())
        t_write = time.perf_counter() - t
        bpy.data.meshes.remove(mesh)
        return t_alloc, t_write
    allocs, writes = zip(*[attr_writes() for _ in range(args.repeat)])
    res["vertex_alloc_s"], res["attribute_write_s"] = min(allocs), min(writes)
    res["attribute_points_per_s"] = n_points / min(writes)

    tmp = Path(tempfile.mkdtemp(prefix="alive-bench-"))
    pts = BakeSettings(name="bench", start=1, texture=False, card=False)
    t_pts, r = best_of(lambda: bake(scene, decoded, K, pose, pts, blend_dir=tmp), args.repeat)
    res["bake_points_s"] = t_pts
    res["bake_points_inner"] = r["timings"]

    # frame evaluation: change frame, evaluate the GN modifier, read the evaluated point count
    obj = scene.objects[r["points_object"]]
    frames = np.linspace(1, F, min(args.eval_frames, F)).astype(int)
    dg = bpy.context.evaluated_depsgraph_get()
    t = time.perf_counter()
    scene.frame_set(int(frames[-1]))
    obj.evaluated_get(dg).evaluated_geometry()
    res["first_eval_ms"] = 1e3 * (time.perf_counter() - t)  # once after the bake: builds the depsgraph
    ev = []
    counts = []
    for f in frames:
        t = time.perf_counter()
        scene.frame_set(int(f))
        geo = obj.evaluated_get(dg).evaluated_geometry()
        pc = geo.pointcloud
        counts.append(len(pc.points))
        ev.append(time.perf_counter() - t)
    assert all(c == W * H for c in counts), counts[:5]
    res["frame_eval_ms_mean"], res["frame_eval_ms_max"] = 1e3 * float(np.mean(ev)), 1e3 * float(np.max(ev))
    res["frame_eval_ms_median"] = 1e3 * float(np.median(ev))

    out = tmp / "bench_points.blend"
    save_blend(out)
    res["saved_points_mb"] = out.stat().st_size / 1e6
    t = time.perf_counter()
    bpy.ops.wm.open_mainfile(filepath=str(out))
    res["reopen_s"] = time.perf_counter() - t
    scene = bpy.context.scene

    for mode in ("atlas", "sequence"):
        s = BakeSettings(name="bench", start=1, texture_mode=mode, card=True)
        t_full, r = best_of(lambda: bake(scene, decoded, K, pose, s, blend_dir=tmp), 1)
        res[f"bake_full_{mode}_s"] = t_full
        res[f"texture_{mode}_s"] = r["timings"].get("texture_s", 0.0)
    out = tmp / "bench_full_atlas.blend"
    s = BakeSettings(name="bench", start=1, texture_mode="atlas", card=True)
    bake(scene, decoded, K, pose, s, blend_dir=tmp)
    save_blend(out)
    res["saved_full_atlas_mb"] = out.stat().st_size / 1e6

    rows = [
        ("points", f"{F} frames x {W * H} = {n_points:,}", ""),
        ("unproject, per-frame loop (foundation)", f"{t_loop * 1e3:.0f} ms", ""),
        ("unproject, vectorized", f"{t_vec * 1e3:.0f} ms", f"{t_loop / t_vec:.1f}x faster"),
        ("vertex allocation (vertices.add)", f"{res['vertex_alloc_s'] * 1e3:.0f} ms", ""),
        ("attribute writes (pos+frame+colour)", f"{res['attribute_write_s'] * 1e3:.0f} ms",
         f"{res['attribute_points_per_s'] / 1e6:.0f} M points/s (target >= 10)"),
        ("bake points (no decoding)", f"{t_pts:.2f} s", "target < 2 s"),
        ("bake points + atlas card", f"{res['bake_full_atlas_s']:.2f} s", f"texture {res['texture_atlas_s']:.2f} s"),
        ("bake points + sequence card", f"{res['bake_full_sequence_s']:.2f} s",
         f"texture {res['texture_sequence_s']:.2f} s ({F} PNGs)"),
        ("frame evaluation mean / median / max",
         f"{res['frame_eval_ms_mean']:.1f} / {res['frame_eval_ms_median']:.1f} / {res['frame_eval_ms_max']:.1f} ms",
         f"target < 10 ms (first after bake {res['first_eval_ms']:.1f} ms)"),
        ("saved .blend, points", f"{res['saved_points_mb']:.0f} MB", f"reopen {res['reopen_s']:.2f} s"),
        ("saved .blend, points + packed atlas", f"{res['saved_full_atlas_mb']:.0f} MB", ""),
    ]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    print(f"bake benchmark ({res['machine']}; Blender {res['blender']}; best of {args.repeat})")
    for a, b, c in rows:
        print(f"  {a:<{w0}}  {b:>{w1}}  {c}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, default=float))
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
    return res


if __name__ == "__main__":
    main()
