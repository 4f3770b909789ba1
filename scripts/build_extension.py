#!/usr/bin/env python3
"""Build the Blender extension zips: download the wheels it needs, write the
manifest's ``wheels`` list, and let Blender's own builder make one zip per
platform (``blender_ext.py build --split-platforms``) in ``dist/``.

    python scripts/build_extension.py                      # this platform, CPU torch bundled
    python scripts/build_extension.py --platform all       # windows-x64, macos-arm64, macos-x64, linux-x64
    python scripts/build_extension.py --torch external     # no torch: the worker runs in an external
                                                           # Python that has it (Preferences > Worker Python)
    python scripts/build_extension.py --no-wheels          # code only (quick check of the packaging)

Wheels are for Blender's Python (3.11) and land in ``wheels/`` (not committed).
numpy is left out: Blender ships it. ``--torch cpu`` takes torch/torchvision
from PyTorch's CPU index (the PyPI Linux/Windows torch pulls ~3 GB of CUDA
libraries); PyTorch publishes no macos-x64 wheel after 2.2, so pip picks the
newest one that exists there. The repository's manifest is not modified: the
build happens in a staging copy whose manifest gets the wheel list.
"""

from __future__ import annotations

import argparse
import json
import platform as _platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLATFORMS = {
    # Blender platform -> pip --platform tags (newest first is not needed: pip takes any that match)
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "linux_x86_64"],
    "windows-x64": ["win_amd64"],
    "macos-arm64": ["macosx_11_0_arm64", "macosx_12_0_arm64", "macosx_13_0_arm64", "macosx_14_0_arm64"],
    "macos-x64": ["macosx_10_9_x86_64", "macosx_10_13_x86_64", "macosx_10_15_x86_64", "macosx_11_0_x86_64"],
}
PYTHON_VERSION = "3.11"
# what the extension imports inside Blender besides Blender's own modules
BASE_REQUIREMENTS = ["pillow"]
# the training stack, when torch is bundled (the worker then runs in Blender's Python)
TORCH_REQUIREMENTS = ["torch", "torchvision"]
ML_REQUIREMENTS = ["open_clip_torch", "safetensors", "scipy"]
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
BLENDER_SHIPS = ("numpy",)   # never bundle: Blender has its own, and two copies clash
# the code that goes into the zip (everything else in the repository stays out)
PACKAGE_FILES = ["__init__.py", "blender_manifest.toml", "alive_blender", "README.md", "LICENSE"]


def this_platform() -> str:
    system, machine = sys.platform, _platform.machine().lower()
    arm = machine in ("arm64", "aarch64")
    if system.startswith("linux") and not arm:
        return "linux-x64"
    if system == "win32":
        return "windows-x64"
    if system == "darwin":
        return "macos-arm64" if arm else "macos-x64"
    raise SystemExit(f"build_extension: no Blender platform for {system}/{machine}; pass --platform")


def blender_ext_path(given: str = "") -> Path:
    if given:
        return Path(given)
    try:
        import bpy
    except ImportError:
        raise SystemExit("build_extension: cannot find Blender's blender_ext.py: run with the bpy module's "
                         "Python or pass --blender-ext PATH") from None
    return Path(bpy.utils.resource_path("LOCAL")) / "scripts" / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"


def pip_download(requirements: list[str], plat: str, dest: Path, index_url: str = "",
                 extra_index_url: str = "") -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--python-version", PYTHON_VERSION,
           "--implementation", "cp", "--dest", str(dest)]
    for tag in PLATFORMS[plat]:
        cmd += ["--platform", tag]
    if index_url:
        cmd += ["--index-url", index_url]
    if extra_index_url:
        cmd += ["--extra-index-url", extra_index_url]
    cmd += requirements
    print(f"build_extension: {plat}: pip download {' '.join(requirements)}", file=sys.stderr)
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"build_extension: pip download failed for {plat}:\n{res.stderr[-3000:]}")


def wheel_project(name: str) -> str:
    return re.split(r"-\d", name, maxsplit=1)[0].lower().replace("_", "-")


def download_wheels(plat: str, torch: str, wheels_dir: Path) -> list[str]:
    """Download this platform's wheels into ``wheels_dir``; return their file names."""
    with tempfile.TemporaryDirectory(prefix=f"alive-wheels-{plat}-") as tmp:
        tmp = Path(tmp)
        if torch == "cpu":
            # PyTorch's CPU index first: its torch (x.y.z+cpu) outranks PyPI's, which on
            # Linux/Windows drags in the CUDA libraries; everything else comes from PyPI
            pip_download(BASE_REQUIREMENTS + TORCH_REQUIREMENTS + ML_REQUIREMENTS, plat, tmp,
                         index_url=TORCH_CPU_INDEX, extra_index_url="https://pypi.org/simple")
        else:
            pip_download(BASE_REQUIREMENTS, plat, tmp)
        names = []
        for whl in sorted(tmp.glob("*.whl")):
            if wheel_project(whl.name) in BLENDER_SHIPS:
                continue
            if _is_cuda_wheel(whl.name):
                raise SystemExit(f"build_extension: {plat}: a CUDA wheel ({whl.name}) was pulled in; "
                                 "the CPU torch should not need it")
            shutil.copy2(whl, wheels_dir / whl.name)
            names.append(whl.name)
    return names


def _is_cuda_wheel(name: str) -> bool:
    return wheel_project(name).startswith(("nvidia-", "triton", "cuda-"))


def stage_source(stage: Path, wheel_names: list[str], wheels_dir: Path, platforms: list[str]) -> None:
    import tomllib
    for name in PACKAGE_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, stage / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.exists():
            shutil.copy2(src, stage / name)
    if wheel_names:
        (stage / "wheels").mkdir()
        for name in wheel_names:
            shutil.copy2(wheels_dir / name, stage / "wheels" / name)
    text = (stage / "blender_manifest.toml").read_text()
    manifest = tomllib.loads(text)
    lines = [ln for ln in text.splitlines() if not ln.startswith(("platforms =", "wheels ="))]
    # top-level keys must come before the first [table]
    first_table = next(i for i, ln in enumerate(lines) if ln.startswith("["))
    extra = [f"platforms = {json.dumps(platforms)}"]
    if wheel_names:
        extra.append("wheels = [\n" + "".join(f'  "./wheels/{n}",\n' for n in wheel_names) + "]")
    lines[first_table:first_table] = extra + [""]
    (stage / "blender_manifest.toml").write_text("\n".join(lines) + "\n")
    assert tomllib.loads((stage / "blender_manifest.toml").read_text())["id"] == manifest["id"]


def build(platforms: list[str], torch: str, no_wheels: bool, out: Path, wheels_dir: Path,
          blender_ext: Path) -> list[Path]:
    wheel_names: list[str] = []
    if not no_wheels:
        wheels_dir.mkdir(parents=True, exist_ok=True)
        for plat in platforms:
            wheel_names += [n for n in download_wheels(plat, torch, wheels_dir) if n not in wheel_names]
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="alive-ext-stage-") as stage:
        stage = Path(stage) / "alive_blender_ext"
        stage.mkdir()
        stage_source(stage, wheel_names, wheels_dir, platforms)
        before = set(out.glob("*.zip"))
        cmd = [sys.executable, str(blender_ext), "build", "--source-dir", str(stage), "--output-dir", str(out),
               "--split-platforms"]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit(f"build_extension: Blender's builder failed:\n{res.stdout}{res.stderr}")
        zips = sorted(set(out.glob("*.zip")) - before) or sorted(
            p for p in out.glob("*.zip") if any(pl.replace("-", "_") in p.name for pl in platforms))
    for z in zips:
        res = subprocess.run([sys.executable, str(blender_ext), "validate", str(z)], capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit(f"build_extension: {z.name} does not validate:\n{res.stdout}{res.stderr}")
    return zips


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--platform", action="append", default=[],
                   help="Blender platform (repeatable): " + ", ".join(PLATFORMS) + ", or all "
                        "(default: the one this runs on)")
    p.add_argument("--torch", choices=["cpu", "external"], default="cpu",
                   help="cpu: bundle CPU torch + open_clip (large, self-contained); external: bundle nothing "
                        "heavy, train with the Python set in Preferences > Worker Python")
    p.add_argument("--no-wheels", action="store_true", help="bundle no wheels at all (packaging check)")
    p.add_argument("--out", default=str(ROOT / "dist"), help="where the zips go (default dist/)")
    p.add_argument("--wheels-dir", default=str(ROOT / "wheels"), help="wheel cache (default wheels/)")
    p.add_argument("--blender-ext", default="", help="path of Blender's blender_ext.py (default: from bpy)")
    args = p.parse_args(argv)
    platforms = args.platform or [this_platform()]
    if "all" in platforms:
        platforms = list(PLATFORMS)
    bad = [pl for pl in platforms if pl not in PLATFORMS]
    if bad:
        p.error(f"unknown platform {bad}; use {', '.join(PLATFORMS)} or all")
    zips = build(platforms, args.torch, args.no_wheels, Path(args.out).absolute(), Path(args.wheels_dir).absolute(),
                 blender_ext_path(args.blender_ext))
    for z in zips:
        print(f"{z}  ({z.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
