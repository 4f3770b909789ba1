"""``bake SCENE.blend WORKDIR --rollout ROLLOUT.npy --save OUT.blend``: decode a
rollout with the work directory's generator and bake it into a scene.

With none of --points/--texture/--card/--world/--object the bake makes the
point cloud and an image-sequence card (what ``run`` bakes). The point cloud
is the 3-D one (one fused cloud per object + the background, keyed per frame)
where the capture allows it, else, or with --point-bake per-frame, each
invented frame's depth surface. Otherwise it
makes what is asked: --texture alone shows the frames on a card; --card,
--world and --object pick where the texture goes (sequence by default)."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import AliveError
from ..core.settings import POINT_BAKES


def add_parser(sub) -> None:
    p = sub.add_parser("bake", help="decode a rollout and bake it into a scene (point cloud, textures)",
                       description=__doc__.split("\n\n", 1)[1].replace("\n", " "))
    p.add_argument("scene", help="the .blend to bake into")
    p.add_argument("workdir", help="work directory with a trained model (from run)")
    p.add_argument("--rollout", default="", help="rollout .npy (default: WORKDIR/rollout/rollout.npy)")
    p.add_argument("--variation", type=int, default=0, help="which rollout variation to bake (default 0)")
    p.add_argument("--name", default="alive", help="bake name: its collection is 'Alive NAME'; re-baking a name "
                                                  "replaces what it made")
    p.add_argument("--points", action="store_true", help="bake the point cloud")
    p.add_argument("--point-bake", choices=POINT_BAKES, default=None,
                   help="which point cloud: 3d (default where the capture allows it: one fused cloud per object "
                        "+ the background, keyed per frame, solid from every side) or per-frame (each invented "
                        "frame's depth surface, seen from the capture camera)")
    p.add_argument("--texture", choices=["sequence", "atlas"], default=None,
                   help="bake the frames as a texture: PNG sequence next to the .blend, or one packed atlas "
                        "(self-contained .blend)")
    p.add_argument("--card", action="store_true", help="show the texture on a card in the camera's frustum")
    p.add_argument("--world", action="store_true", help="use the texture as the world background")
    p.add_argument("--object", default="", help="put the texture as a material on this mesh object")
    p.add_argument("--hold", type=int, default=1, help="scene frames per generated frame (2 = on twos)")
    p.add_argument("--start", type=int, default=None, help="scene frame of the first baked frame "
                                                          "(default: the scene's start)")
    p.add_argument("--density", type=float, default=1.0, help="decode at this multiple of the training "
                                                            "resolution (more or fewer points per frame)")
    p.add_argument("--output-size", default="", metavar="WxH",
                   help="decode at this size (overrides --density); above the capture's size needs --allow-upscale")
    p.add_argument("--allow-upscale", action="store_true",
                   help="allow decoding above the capture's size (reported as upscaled); otherwise refused")
    p.add_argument("--point-density", type=float, default=1.0,
                   help="points per decoded pixel, at most 1 (0.25: one point per 2x2 pixels)")
    p.add_argument("--pointcloud-object", action="store_true", help="make the points a Point Cloud object "
                                                                    "instead of a mesh")
    p.add_argument("--camera-pose", choices=["start", "per-frame"], default="start",
                   help="unproject through the camera of the rollout's start frame, or through the scene "
                        "camera at each frame the generated frame is shown")
    p.add_argument("--trajectory", action="store_true", help="add the embedding trajectory as 3-D curves")
    p.add_argument("--radius", type=float, default=0.0, help="point radius (default: from the pixel footprint)")
    p.add_argument("--objects", action="store_true", help="key each source object's world matrix from the "
                   "invented states (Cycles renders the invented behavior with the real meshes); alone: "
                   "nothing else is baked")
    p.add_argument("--points-3d", action="store_true", help="the 3-D point bake, or an error saying why it "
                   "cannot be made (no fallback to the per-frame points); alone: nothing else is baked")
    p.add_argument("--device", default="auto", help="decode on auto, cpu, cuda or mps")
    p.add_argument("--save", required=True, help="where to save the baked scene (.blend)")
    p.set_defaults(func=execute)


def settings_from_args(args):
    from ..blender.bake.points import BakeSettings
    from .common import parse_size
    out_w, out_h = parse_size(args.output_size, "--output-size")
    if args.points_3d and args.point_bake == "per-frame":
        raise AliveError("--points-3d and --point-bake per-frame ask for two different point bakes", "give one")
    chosen = args.points or args.texture or args.card or args.world or args.object
    if not chosen:
        points, texture, card = True, True, True
    else:
        points = bool(args.points or args.points_3d)
        texture = bool(args.texture or args.card or args.world or args.object)
        card = bool(args.card or (args.texture and not (args.world or args.object)))
    s = BakeSettings(name=args.name, start=args.start, points=points, texture=texture,
                     texture_mode=args.texture or "sequence", card=card, world=bool(args.world),
                     target_object=args.object, hold=args.hold, density=args.density,
                     pointcloud_object=bool(args.pointcloud_object), camera_pose=args.camera_pose,
                     trajectory=bool(args.trajectory), radius=args.radius, width=out_w, height=out_h,
                     allow_upscale=bool(args.allow_upscale), point_density=args.point_density,
                     **({"point_bake": "3d" if args.points_3d else args.point_bake}
                        if args.point_bake or args.points_3d else {}))
    s.check()
    return s


def execute(args, reporter) -> dict:
    import bpy

    from ..blender.bake.from_workdir import bake_from_workdir
    from ..blender.scenefile import check_save_target, open_blend, save_blend
    settings = settings_from_args(args)  # bad flags fail before anything is opened or written
    workdir = Path(args.workdir).expanduser().absolute()
    if not (workdir / "capture" / "meta.json").exists():
        raise AliveError(f"'{workdir}' is not a work directory with a capture", "give the WORKDIR that run made")
    save = check_save_target(args.save)
    from ..core.workdir.lock import workdir_lock
    from ..blender.bake.frame_folders import switched_on_save
    open_blend(args.scene)
    only_objects = (args.objects or args.points_3d) and not (args.points or args.texture or args.card
                                                             or args.world or args.object)
    with workdir_lock(workdir), switched_on_save():  # decode into WORKDIR/bakes; frames switched on save
        if args.objects:
            from ..blender.bake.objects import bake_objects_from_workdir
            keyed = bake_objects_from_workdir(bpy.context.scene, workdir, args.rollout or None, args.variation,
                                              args.start, reporter)
        if args.points_3d:   # asked for by name: no silent per-frame fallback
            from ..blender.bake.world import bake_world, world_plan
            plan, why = world_plan(workdir, args.rollout or None, args.variation)
            if plan is None:
                raise AliveError(f"no 3-D bake: {why}", "bake the per-frame points (--point-bake per-frame)")
            if only_objects:
                world = bake_world(bpy.context.scene, workdir, args.name, args.rollout or None, args.variation,
                                   args.start, reporter, hold=args.hold)
        if only_objects:
            result = {k: v for k, v in (("objects", keyed if args.objects else None),
                                        ("points_3d", world if args.points_3d else None)) if v is not None}
        else:
            result = bake_from_workdir(bpy.context.scene, workdir, settings, rollout_file=args.rollout or None,
                                       variation=args.variation, blend_dir=save.parent, device=args.device,
                                       reporter=reporter)
        if args.objects and not only_objects:
            result["objects"] = keyed
        result["blend"] = str(save_blend(save))
    reporter.status(f"saved {result['blend']}")
    return result
