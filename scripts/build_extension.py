#!/usr/bin/env python3
"""Build the Blender extension zips: download the wheels it needs for both
Blender Python generations, write the manifest's ``wheels`` list, and let
Blender's own builder make one zip per platform (``blender_ext.py build
--split-platforms``) in ``dist/``.

    python scripts/build_extension.py                      # this platform, CPU torch bundled
    python scripts/build_extension.py --platform all       # windows-x64, macos-arm64, macos-x64, linux-x64
    python scripts/build_extension.py --torch external     # no torch: the worker runs in an external
                                                           # Python that has it (Preferences > Worker Python)
    python scripts/build_extension.py --no-wheels          # code only (quick check of the packaging)
    python scripts/build_extension.py --repo DIR           # also copy the zips to DIR and write the static
                                                           # repository index Blender's Remote Repositories read

Blender 4.2-5.0 run Python 3.11, Blender 5.1 and later Python 3.13: every
build has wheels for both (cp311 and cp313; Blender installs those that match
its Python). Layout, because the extensions platform refuses zips over 300 MB
and CPU torch alone is ~190 MB per Python:
- ``--torch external`` and ``--no-wheels``: one zip per platform with both
  Pythons' wheels, for Blender 4.2 up to (not including) 5.4.
- ``--torch cpu``: one zip per platform *and* Python generation, each with
  matching ``blender_version_min``/``blender_version_max`` (``-py311``: 4.2 to
  5.1; ``-py313``: 5.1 to 5.4). Blender picks the zip that fits it from a
  repository index. ``--layout joint`` forces one zip (over the limit with CPU torch).

numpy is left out: Blender ships it. ``--torch cpu`` takes torch/torchvision
from PyTorch's CPU index (the PyPI Linux/Windows torch pulls ~3 GB of CUDA
libraries), checked reachable before anything downloads (offline: ``--torch
external``, or ``--torch-index URL`` of a mirror); PyTorch publishes no
macos-x64 wheel after 2.2 (so none for cp313: use ``--torch external`` there). ``--find-links DIR --no-index`` builds from a
local wheel folder only. The repository's manifest is not modified: the build
happens in a staging copy whose manifest gets the wheel list and version range.
"""

from __future__ import annotations

import argparse
import json
import os
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
# Blender's Python generations -> the Blender versions that run them [min, max)
# (blender_version_max is exclusive); each zip's range is also cut at the manifest's blender_version_max
GENERATIONS = {"3.11": ("4.2.0", "5.1.0"), "3.13": ("5.1.0", "5.4.0")}
PYTHONS = tuple(GENERATIONS)
MAX_ZIP_BYTES = 300 * 1000 * 1000   # what the public extensions platform accepts
# what the extension imports inside Blender besides Blender's own modules
BASE_REQUIREMENTS = ["pillow"]
# the training stack, when torch is bundled (the worker then runs in Blender's Python)
TORCH_REQUIREMENTS = ["torchvision", "torch"]   # torchvision first: it pins the torch it was built for
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


def check_index(url: str, timeout: float = 15.0) -> None:
    """Stop with one line when the package index at ``url`` cannot be reached:
    pip would retry for minutes and then blame a missing distribution
    (nvidia-cublas...), which says nothing about the network."""
    import urllib.error
    import urllib.request
    probe = url.rstrip("/") + "/torch/"   # the index's page of torch (PEP 503 simple layout)
    try:
        with urllib.request.urlopen(probe, timeout=timeout) as page:   # GET: not every mirror answers HEAD
            page.read(1)
            return
    except urllib.error.HTTPError as err:
        reason = f"HTTP {err.code} for {probe}"
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = str(getattr(err, "reason", err))
    raise SystemExit(f"build_extension: PyTorch's CPU index {url} cannot be reached ({reason}); build without "
                     "torch with --torch external (the worker then uses an external Python), or pass "
                     "--torch-index URL of a reachable mirror")


def pip_download(requirements: list[str], plat: str, python: str, dest: Path, index_url: str = "",
                 extra_index_url: str = "", find_links: str = "", no_index: bool = False) -> None:
    """``pip download --no-deps`` of exactly ``requirements`` (download_closure follows the dependencies)."""
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--python-version", python,
           "--implementation", "cp", "--dest", str(dest), "--disable-pip-version-check", "--no-deps"]
    for tag in PLATFORMS[plat]:
        cmd += ["--platform", tag]
    if no_index:
        cmd += ["--no-index"]
    elif index_url:
        cmd += ["--index-url", index_url]
    if extra_index_url and not no_index:
        cmd += ["--extra-index-url", extra_index_url]
    if find_links:
        cmd += ["--find-links", find_links]
    cmd += requirements
    env = dict(os.environ, PIP_CONSTRAINT="")   # a machine-wide constraint is for installing, not packaging
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise SystemExit(f"build_extension: pip download failed for {plat}, Python {python}:\n{res.stderr[-3000:]}")


def wheel_project(name: str) -> str:
    return re.split(r"-\d", name, maxsplit=1)[0].lower().replace("_", "-")


# the environment markers of each Blender platform (PEP 508), for download_closure
PLATFORM_MARKERS = {
    "linux-x64": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix"},
    "windows-x64": {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64",
                    "os_name": "nt"},
    "macos-arm64": {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64",
                    "os_name": "posix"},
    "macos-x64": {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "x86_64",
                  "os_name": "posix"},
}


def target_markers(plat: str, python: str) -> dict:
    return dict(PLATFORM_MARKERS[plat], python_version=python, python_full_version=f"{python}.0",
                implementation_name="cpython", implementation_version=f"{python}.0",
                platform_python_implementation="CPython", platform_release="", platform_version="", extra="")


def wheel_requires(whl: Path) -> list[str]:
    """The Requires-Dist lines of a wheel's METADATA."""
    import zipfile
    with zipfile.ZipFile(whl) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        text = zf.read(meta).decode("utf-8", "replace")
    head = text.split("\n\n", 1)[0]
    return [line.split(":", 1)[1].strip() for line in head.splitlines() if line.startswith("Requires-Dist:")]


def download_closure(requirements: list[str], plat: str, python: str, dest: Path, **index) -> None:
    """Download ``requirements`` and everything they need on ``plat`` under ``python`` into ``dest``.

    ``pip download --platform`` evaluates environment markers for the machine it runs on,
    not for the target: built on Linux, a Windows or macOS bundle would pull torch's
    ``platform_system == "Linux"`` CUDA libraries. So the dependencies are followed here,
    one package at a time (``--no-deps``), under the target's markers. A package pinned
    two incompatible ways is an error, never a silent pick."""
    try:
        from packaging.requirements import Requirement
        from packaging.utils import canonicalize_name
        from packaging.version import Version
    except ImportError:   # pip always carries it
        from pip._vendor.packaging.requirements import Requirement
        from pip._vendor.packaging.utils import canonicalize_name
        from pip._vendor.packaging.version import Version
    env = target_markers(plat, python)
    fetched = {}   # name -> (version, Requires-Dist, extras followed)
    queue = [(Requirement(r), "") for r in requirements]
    print(f"build_extension: {plat} cp{python.replace('.', '')}: {' '.join(requirements)} and what they need",
          file=sys.stderr)
    while queue:
        req, wanted_by = queue.pop(0)
        name = canonicalize_name(req.name)
        if name in BLENDER_SHIPS:
            continue
        if name not in fetched:
            with tempfile.TemporaryDirectory(prefix="alive-one-wheel-") as one:
                pip_download([f"{name}{req.specifier}"], plat, python, Path(one), **index)
                (whl,) = Path(one).glob("*.whl")
                shutil.move(str(whl), dest / whl.name)
            version = Version(whl.name.split("-")[1])
            fetched[name] = (version, [Requirement(d) for d in wheel_requires(dest / whl.name)], set())
        version, requires, followed = fetched[name]
        if not req.specifier.contains(version, prereleases=True):
            raise SystemExit(f"build_extension: {plat}, Python {python}: {wanted_by or 'the build'} needs "
                             f"{req}, but {name} {version} was already taken for another package")
        deps = []
        for extra in sorted({""} | set(req.extras)):
            if extra in followed:
                continue
            followed.add(extra)
            deps += [(dep, f"{name} {version}") for dep in requires
                     if dep.marker is None or dep.marker.evaluate(dict(env, extra=extra))]
        queue[:0] = deps   # depth first: a package's pins are taken before a later, looser request


def download_wheels(plat: str, python: str, torch: str, wheels_dir: Path, find_links: str = "",
                    no_index: bool = False, torch_index: str = TORCH_CPU_INDEX, packages=()) -> list[str]:
    """Download one platform's wheels for one Python into ``wheels_dir``; return their file names."""
    with tempfile.TemporaryDirectory(prefix=f"alive-wheels-{plat}-") as tmp:
        tmp = Path(tmp)
        if packages:
            download_closure(list(packages), plat, python, tmp, find_links=find_links, no_index=no_index)
        elif torch == "cpu":
            # PyTorch's CPU index first: its torch (x.y.z+cpu) outranks PyPI's, which on
            # Linux drags in the CUDA libraries; everything else comes from PyPI
            download_closure(BASE_REQUIREMENTS + TORCH_REQUIREMENTS + ML_REQUIREMENTS, plat, python, tmp,
                             index_url=torch_index, extra_index_url="https://pypi.org/simple",
                             find_links=find_links, no_index=no_index)
            missing = [r for r in TORCH_REQUIREMENTS if not any(wheel_project(w.name) == r for w in tmp.glob("*.whl"))]
            if missing:
                raise SystemExit(f"build_extension: {plat}, Python {python}: no wheel of {', '.join(missing)}")
        else:
            download_closure(BASE_REQUIREMENTS, plat, python, tmp, find_links=find_links, no_index=no_index)
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


def wheel_tags(name: str) -> tuple[str, str, str]:
    """(python tags, abi tags, platform tags) of a wheel file name."""
    parts = name[:-len(".whl")].split("-")
    return parts[-3], parts[-2], parts[-1]


def wheel_fits_python(name: str, python: str) -> bool:
    want = int(python.replace(".", "")[1:])   # "3.13" -> 13
    pys, abis, _ = wheel_tags(name)
    for py in pys.split("."):
        if py in ("py3", "py2.py3") or py == f"py3{want}":
            return True
        if py.startswith("cp3"):
            minor = int(py[3:])
            if minor == want or ("abi3" in abis.split(".") and minor <= want):
                return True
    return False


def wheel_fits_platform(name: str, plat: str) -> bool:
    tags = wheel_tags(name)[2].split(".")
    if "any" in tags:
        return True
    arch = {"linux-x64": "x86_64", "windows-x64": "amd64", "macos-arm64": "arm64", "macos-x64": "x86_64"}[plat]
    family = {"linux-x64": ("manylinux", "linux", "musllinux"), "windows-x64": ("win",),
              "macos-arm64": ("macosx",), "macos-x64": ("macosx",)}[plat]
    return any(t.startswith(family) and (t.endswith(arch) or t.endswith("universal2")) for t in tags)


def missing_wheels(names: list[str], platforms: list[str], pythons) -> list[str]:
    """Every (package, platform, Python) that a zip declaring ``platforms`` lacks a wheel for:
    each package bundled for a platform must have a wheel for every one of ``pythons``."""
    missing = []
    for plat in platforms:
        here = [n for n in names if wheel_fits_platform(n, plat)]
        for project in sorted({wheel_project(n) for n in here}):
            for py in pythons:
                if not any(wheel_project(n) == project and wheel_fits_python(n, py) for n in here):
                    missing.append(f"{project} for {plat}, cp{py.replace('.', '')}")
    return missing


def _is_cuda_wheel(name: str) -> bool:
    return wheel_project(name).startswith(("nvidia-", "triton", "cuda-"))


def stage_source(stage: Path, wheel_names: list[str], wheels_dir: Path, platforms: list[str],
                 version_range: tuple[str, str]) -> None:
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
    replaced = ("platforms =", "wheels =", "blender_version_min =", "blender_version_max =")
    lines = [ln for ln in text.splitlines() if not ln.startswith(replaced)]
    # top-level keys must come before the first [table]
    first_table = next(i for i, ln in enumerate(lines) if ln.startswith("["))
    extra = [f'blender_version_min = "{version_range[0]}"', f'blender_version_max = "{version_range[1]}"',
             f"platforms = {json.dumps(platforms)}"]
    if wheel_names:
        extra.append("wheels = [\n" + "".join(f'  "./wheels/{n}",\n' for n in wheel_names) + "]")
    lines[first_table:first_table] = extra + [""]
    (stage / "blender_manifest.toml").write_text("\n".join(lines) + "\n")
    assert tomllib.loads((stage / "blender_manifest.toml").read_text())["id"] == manifest["id"]


def builder(blender_ext: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(blender_ext), *args], capture_output=True, text=True)


def build_zips(platforms: list[str], wheel_names: list[str], wheels_dir: Path, version_range: tuple[str, str],
               out: Path, blender_ext: Path, suffix: str = "") -> list[Path]:
    """One zip per platform (Blender's builder), named ``<id>-<version>-<platform><suffix>.zip``."""
    with tempfile.TemporaryDirectory(prefix="alive-ext-stage-") as tmp:
        stage = Path(tmp) / "alive_blender_ext"
        stage.mkdir()
        stage_source(stage, wheel_names, wheels_dir, platforms, version_range)
        built = Path(tmp) / "zips"
        built.mkdir()
        res = builder(blender_ext, "build", "--source-dir", str(stage), "--output-dir", str(built),
                      "--split-platforms")
        if res.returncode != 0:
            raise SystemExit(f"build_extension: Blender's builder failed:\n{res.stdout}{res.stderr}")
        zips = []
        for z in sorted(built.glob("*.zip")):
            dest = out / (z.stem + suffix + z.suffix)
            shutil.move(z, dest)
            zips.append(dest)
    for z in zips:
        res = builder(blender_ext, "validate", str(z))
        if res.returncode != 0:
            raise SystemExit(f"build_extension: {z.name} does not validate:\n{res.stdout}{res.stderr}")
    return zips


def manifest_max() -> str:
    import tomllib
    return tomllib.loads((ROOT / "blender_manifest.toml").read_text())["blender_version_max"]


def _version(v: str) -> tuple:
    return tuple(int(x) for x in v.split("."))


def capped(span: tuple[str, str], blender_max: str) -> tuple[str, str]:
    """A generation's Blender range cut at the manifest's blender_version_max."""
    return span[0], min(span[1], blender_max, key=_version)


def build(platforms: list[str], torch: str, no_wheels: bool, out: Path, wheels_dir: Path,
          blender_ext: Path, pythons=PYTHONS, layout: str = "auto", find_links: str = "",
          no_index: bool = False, torch_index: str = TORCH_CPU_INDEX, packages=(),
          blender_max: str = "") -> list[Path]:
    blender_max = blender_max or manifest_max()
    if torch == "cpu" and not (no_wheels or no_index or packages or find_links):
        check_index(torch_index)   # before any download: fail in seconds, saying what to do
        # (with --find-links the folder may hold the wheels: pip is left to try)
    if layout == "auto":
        layout = "per-python" if torch == "cpu" and not no_wheels else "joint"
    wheels: dict[str, list[str]] = {py: [] for py in pythons}
    if not no_wheels:
        wheels_dir.mkdir(parents=True, exist_ok=True)
        for py in pythons:
            for plat in platforms:
                names = download_wheels(plat, py, torch, wheels_dir, find_links, no_index, torch_index, packages)
                wheels[py] += [n for n in names if n not in wheels[py]]
            missing = missing_wheels(wheels[py], platforms, [py])
            if missing:
                raise SystemExit("build_extension: no wheel for " + "; ".join(missing))
    out.mkdir(parents=True, exist_ok=True)
    if layout == "joint":
        names = sorted({n for py in pythons for n in wheels[py]})
        missing = missing_wheels(names, platforms, pythons)
        if missing:
            raise SystemExit("build_extension: no wheel for " + "; ".join(missing))
        span = capped((GENERATIONS[pythons[0]][0], GENERATIONS[pythons[-1]][1]), blender_max)
        return build_zips(platforms, names, wheels_dir, span, out, blender_ext)
    zips = []
    for py in pythons:
        span = capped(GENERATIONS[py], blender_max)
        if _version(span[0]) >= _version(span[1]):
            print(f"build_extension: no Python {py} zip: its Blenders ({GENERATIONS[py][0]} on) are past "
                  f"blender_version_max {blender_max}", file=sys.stderr)
            continue
        zips += build_zips(platforms, wheels[py], wheels_dir, span, out, blender_ext,
                           suffix=f"-py{py.replace('.', '')}")
    return zips


def write_repository(repo: Path, zips: list[Path], blender_ext: Path) -> Path:
    """Copy the zips into ``repo`` and write the static index Blender's Remote Repositories
    read (``index.json``, plus ``index.html`` for a browser)."""
    repo.mkdir(parents=True, exist_ok=True)
    for z in zips:
        shutil.copy2(z, repo / z.name)
    res = builder(blender_ext, "server-generate", "--repo-dir", str(repo), "--html")
    if res.returncode != 0 or not (repo / "index.json").exists():
        raise SystemExit(f"build_extension: server-generate failed:\n{res.stdout}{res.stderr}")
    return repo / "index.json"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--platform", action="append", default=[],
                   help="Blender platform (repeatable): " + ", ".join(PLATFORMS) + ", or all "
                        "(default: the one this runs on)")
    p.add_argument("--torch", choices=["cpu", "external"], default="cpu",
                   help="cpu: bundle CPU torch + open_clip (large, self-contained); external: bundle nothing "
                        "heavy, train with the Python set in Preferences > Worker Python")
    p.add_argument("--python", action="append", default=[], choices=list(PYTHONS),
                   help="Blender Python generation (repeatable; default: all of " + ", ".join(PYTHONS) + ")")
    p.add_argument("--layout", choices=["auto", "joint", "per-python"], default="auto",
                   help="joint: one zip per platform with every Python's wheels; per-python: one zip per "
                        "platform and Python generation (auto: per-python for --torch cpu)")
    p.add_argument("--no-wheels", action="store_true", help="bundle no wheels at all (packaging check)")
    p.add_argument("--out", default=str(ROOT / "dist"), help="where the zips go (default dist/)")
    p.add_argument("--wheels-dir", default=str(ROOT / "wheels"), help="wheel cache (default wheels/)")
    p.add_argument("--find-links", default="", help="also look for wheels in this folder (pip --find-links)")
    p.add_argument("--no-index", action="store_true", help="take wheels only from --find-links (offline)")
    p.add_argument("--torch-index", default=TORCH_CPU_INDEX, help="where CPU torch comes from")
    p.add_argument("--packages", nargs="+", default=[],
                   help="bundle exactly these packages instead of the --torch set (and their dependencies)")
    p.add_argument("--repo", default="", help="also copy the zips here and write a static repository index")
    p.add_argument("--blender-max", default="",
                   help="blender_version_max of the zips (default: the manifest's; each Python generation's "
                        "range is cut there)")
    p.add_argument("--blender-ext", default="", help="path of Blender's blender_ext.py (default: from bpy)")
    args = p.parse_args(argv)
    platforms = args.platform or [this_platform()]
    if "all" in platforms:
        platforms = list(PLATFORMS)
    bad = [pl for pl in platforms if pl not in PLATFORMS]
    if bad:
        p.error(f"unknown platform {bad}; use {', '.join(PLATFORMS)} or all")
    if args.no_index and not args.find_links:
        p.error("--no-index needs --find-links DIR")
    pythons = tuple(py for py in PYTHONS if py in args.python) if args.python else PYTHONS
    blender_ext = blender_ext_path(args.blender_ext)
    zips = build(platforms, args.torch, args.no_wheels, Path(args.out).absolute(), Path(args.wheels_dir).absolute(),
                 blender_ext, pythons, args.layout, args.find_links, args.no_index, args.torch_index, args.packages,
                 args.blender_max)
    for z in zips:
        size = z.stat().st_size
        over = f"  OVER the extensions platform's {MAX_ZIP_BYTES / 1e6:.0f} MB limit" if size > MAX_ZIP_BYTES else ""
        print(f"{z}  ({size / 1e6:.1f} MB){over}")
    if args.repo:
        print(f"repository index: {write_repository(Path(args.repo).absolute(), zips, blender_ext)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
