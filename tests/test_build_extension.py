"""scripts/build_extension.py: the linux-x64 zip passes Blender's validator and
installs and enables in the bpy module (in a throw-away user folder); every
zip has, for each platform it declares, a cp311 and a cp313 wheel of every
package it bundles. The real wheel sets (torch) are far too big for a test and
the network is not used: the test builds a folder of tiny real wheels (one
small module, tagged per Python and platform) and packages those."""

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import bpy
import pytest
import tomllib

from conftest import ROOT

BLENDER_EXT = Path(bpy.utils.resource_path("LOCAL")) / "scripts" / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"

INSTALL = r"""
import json, sys, pathlib
import bpy
zip_path = sys.argv[1]
bpy.ops.extensions.package_install_files(filepath=zip_path, repo='user_default', enable_on_install=True)
mod = 'bl_ext.user_default.alive_blender'
enabled = mod in bpy.context.preferences.addons
import importlib
pkg = importlib.import_module(mod)
cli = importlib.import_module(mod + '.alive_blender.blender.addon')
# the function registered as `blender -c alive`: same commands, same exit codes
code_help = cli._cli_execute(['--version'])
code_bad = cli._cli_execute(['info', sys.argv[2]])
site = [str(p) for p in pathlib.Path(bpy.utils.user_resource('EXTENSIONS')).rglob('PIL') if p.is_dir()]
print('RESULT' + json.dumps({'enabled': enabled, 'prop': hasattr(bpy.types.Scene, 'alive'),
                            'file': pkg.__file__, 'help': code_help, 'bad': code_bad, 'pil': site}))
"""


def build(*args, out):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "build_extension.py"), "--out", str(out), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)


def install(zip_path, tmp_path):
    user = tmp_path / "user"
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(user))
    env.pop("PYTHONPATH", None)  # the installed copy, not the work tree
    res = subprocess.run([sys.executable, "-c", INSTALL, str(zip_path), str(tmp_path / "no-such-workdir")],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert "RESULT" in res.stdout, res.stdout + res.stderr
    return json.loads(res.stdout.split("RESULT", 1)[1].splitlines()[0]), user


def test_code_only_zip_validates_installs_and_enables(tmp_path):
    res = build("--no-wheels", "--platform", "linux-x64", out=tmp_path / "dist")
    assert res.returncode == 0, res.stderr
    (zip_path,) = list((tmp_path / "dist").glob("*.zip"))
    assert zip_path.name == "alive_blender-0.1.0-linux_x64.zip"
    names = zipfile.ZipFile(zip_path).namelist()
    assert "blender_manifest.toml" in names and "alive_blender/cli/__init__.py" in names
    assert not any(n.startswith(("tests/", "scripts/", ".git")) for n in names)
    check = subprocess.run([sys.executable, str(BLENDER_EXT), "validate", str(zip_path)], capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    result, user = install(zip_path, tmp_path)
    assert result["enabled"] and result["prop"]
    assert result["file"].startswith(str(user))
    assert result["help"] == 0 and result["bad"] == 2
    # the repository's manifest was not touched by the build
    assert "wheels" not in (ROOT / "blender_manifest.toml").read_text()
    manifest = tomllib.loads(zipfile.ZipFile(zip_path).read("blender_manifest.toml").decode())
    assert (manifest["blender_version_min"], manifest["blender_version_max"]) == ("4.2.0", "5.4.0")
    assert manifest["permissions"]["network"]


# a platform tag per Blender platform, as the real wheels have them
PLATFORM_TAGS = {"linux-x64": "manylinux_2_28_x86_64", "windows-x64": "win_amd64",
                 "macos-arm64": "macosx_11_0_arm64", "macos-x64": "macosx_10_13_x86_64"}


def make_wheel(folder: Path, name: str, version: str, tag: str, code: str, requires=()) -> Path:
    """A real, installable wheel holding one module ``name`` (pip and Blender accept it)."""
    dist = f"{name}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires)
    files = {f"{name}.py": code.encode(),
             f"{dist}/METADATA": meta.encode(),
             f"{dist}/WHEEL": f"Wheel-Version: 1.0\nGenerator: alive-tests\nRoot-Is-Purelib: false\nTag: {tag}\n".encode()}
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for p, data in files.items():
            zf.writestr(p, data)
    return path


def probe_wheels(folder: Path, pythons=("311", "313"), platforms=tuple(PLATFORM_TAGS)) -> Path:
    """alive_probe 1.0 for every (Python, platform): the module says which wheel it came from."""
    for py in pythons:
        for plat in platforms:
            tag = f"cp{py}-cp{py}-{PLATFORM_TAGS[plat]}"
            make_wheel(folder, "alive_probe", "1.0", tag, f"WHEEL_TAG = {tag!r}\n")
    return folder


def local_build(tmp_path, wheels: Path, *args):
    return build("--torch", "external", "--packages", "alive_probe", "--find-links", str(wheels), "--no-index",
                 "--wheels-dir", str(tmp_path / "wheel-cache"), *args, out=tmp_path / "dist")


def test_every_platform_zip_has_both_pythons_wheels_from_a_local_folder(tmp_path):
    wheels = probe_wheels(tmp_path / "local-wheels")
    res = local_build(tmp_path, wheels, "--platform", "all")
    assert res.returncode == 0, res.stderr
    zips = sorted((tmp_path / "dist").glob("*.zip"))
    assert [z.name for z in zips] == [f"alive_blender-0.1.0-{p.replace('-', '_')}.zip" for p in sorted(PLATFORM_TAGS)]
    for z in zips:
        assert f"{z.name}  (" in res.stdout   # each zip's size is printed
        check = subprocess.run([sys.executable, str(BLENDER_EXT), "validate", str(z)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        manifest = zip_manifest(z)
        (plat,) = manifest["platforms"]
        listed = [w.rsplit("/", 1)[1] for w in manifest["wheels"]]
        assert sorted(listed) == sorted(f"alive_probe-1.0-cp{py}-cp{py}-{PLATFORM_TAGS[plat]}.whl"
                                        for py in ("311", "313"))
        assert set(zipfile.ZipFile(z).namelist()) >= {f"wheels/{n}" for n in listed}
        assert builder_module().missing_wheels(listed, [plat], ("3.11", "3.13")) == []
        assert (manifest["blender_version_min"], manifest["blender_version_max"]) == ("4.2.0", "5.4.0")


def test_dependencies_follow_the_target_platforms_markers(tmp_path):
    """pip evaluates environment markers for the machine it runs on, not for --platform;
    the build follows dependencies under each target's own markers (so a Windows bundle
    built on Linux does not get torch's Linux-only CUDA libraries)."""
    wheels = tmp_path / "local-wheels"
    for py in ("311", "313"):
        for plat in ("linux-x64", "windows-x64"):
            make_wheel(wheels, "alive_probe", "1.0", f"cp{py}-cp{py}-{PLATFORM_TAGS[plat]}", "",
                       requires=['alive_linux_only; platform_system == "Linux"',
                                 'alive_windows_only; sys_platform == "win32"',
                                 'alive_new_python; python_version >= "3.13"',
                                 'alive_extra_only; extra == "docs"', "alive_common[fast]>=1.0"])
    for dep in ("alive_new_python", "alive_extra_only", "alive_fast"):
        make_wheel(wheels, dep, "1.0", "py3-none-any", "")
    # like torch's CUDA libraries: only where the marker holds, and no wheel anywhere else
    for dep, plat in (("alive_linux_only", "linux-x64"), ("alive_windows_only", "windows-x64")):
        make_wheel(wheels, dep, "1.0", f"py3-none-{PLATFORM_TAGS[plat]}", "")
    make_wheel(wheels, "alive_common", "1.0", "py3-none-any", "", requires=['alive_fast; extra == "fast"'])
    res = local_build(tmp_path, wheels, "--platform", "linux-x64", "--platform", "windows-x64")
    assert res.returncode == 0, res.stderr
    listed = {}
    for z in (tmp_path / "dist").glob("*.zip"):
        manifest = zip_manifest(z)
        listed[manifest["platforms"][0]] = sorted({w.rsplit("/", 1)[1].split("-")[0] for w in manifest["wheels"]})
    common = ["alive_common", "alive_fast", "alive_new_python", "alive_probe"]
    assert listed == {"linux-x64": sorted(common + ["alive_linux_only"]),
                      "windows-x64": sorted(common + ["alive_windows_only"])}


def test_a_pin_is_taken_before_a_looser_request(tmp_path):
    """Like torchvision pinning the torch it was built for: the pinned version is
    bundled, not the newest one a later, unpinned request would take."""
    wheels = tmp_path / "local-wheels"
    tag = f"cp311-cp311-{PLATFORM_TAGS['linux-x64']}"
    for version in ("1.0", "2.0"):
        make_wheel(wheels, "alive_core", version, tag, "")
    make_wheel(wheels, "alive_vision", "1.0", tag, "", requires=["alive_core==1.0"])
    res = build("--torch", "external", "--packages", "alive_vision", "alive_core", "--find-links", str(wheels),
                "--no-index", "--wheels-dir", str(tmp_path / "wheel-cache"), "--platform", "linux-x64",
                "--python", "3.11", out=tmp_path / "dist")
    assert res.returncode == 0, res.stderr
    (z,) = (tmp_path / "dist").glob("*.zip")
    assert sorted(w.rsplit("/", 1)[1] for w in zip_manifest(z)["wheels"]) == [
        f"alive_core-1.0-{tag}.whl", f"alive_vision-1.0-{tag}.whl"]


def test_two_incompatible_pins_are_an_error(tmp_path):
    wheels = probe_wheels(tmp_path / "local-wheels", platforms=("linux-x64",))
    for py in ("311", "313"):
        make_wheel(wheels, "alive_pinned", "1.0", f"cp{py}-cp{py}-{PLATFORM_TAGS['linux-x64']}", "",
                   requires=["alive_probe==2.0"])
    res = build("--torch", "external", "--packages", "alive_probe", "alive_pinned", "--find-links", str(wheels),
                "--no-index", "--wheels-dir", str(tmp_path / "wheel-cache"), "--platform", "linux-x64",
                out=tmp_path / "dist")
    assert res.returncode != 0 and "alive_probe==2.0" in res.stderr and "1.0 was already taken" in res.stderr
    assert not list((tmp_path / "dist").glob("*.zip"))


def test_a_platform_without_a_cp313_wheel_is_refused(tmp_path):
    wheels = probe_wheels(tmp_path / "local-wheels")
    (wheels / f"alive_probe-1.0-cp313-cp313-{PLATFORM_TAGS['windows-x64']}.whl").unlink()
    res = local_build(tmp_path, wheels, "--platform", "linux-x64", "--platform", "windows-x64")
    assert res.returncode != 0
    assert "windows-x64" in res.stderr and "3.13" in res.stderr
    assert not list((tmp_path / "dist").glob("*.zip"))


def test_per_python_layout_gives_each_zip_its_blender_range(tmp_path):
    """The layout CPU-torch builds use: one zip per Python generation, each for the Blenders running it."""
    wheels = probe_wheels(tmp_path / "local-wheels")
    res = local_build(tmp_path, wheels, "--platform", "linux-x64", "--layout", "per-python")
    assert res.returncode == 0, res.stderr
    ranges = {}
    for z in sorted((tmp_path / "dist").glob("*.zip")):
        m = zip_manifest(z)
        ranges[z.name] = (m["blender_version_min"], m["blender_version_max"], [w.split("-")[2] for w in m["wheels"]])
    assert ranges == {"alive_blender-0.1.0-linux_x64-py311.zip": ("4.2.0", "5.1.0", ["cp311"]),
                      "alive_blender-0.1.0-linux_x64-py313.zip": ("5.1.0", "5.4.0", ["cp313"])}


def test_per_python_layout_stops_at_the_given_maximum(tmp_path):
    """A maximum below 5.1 (a Python 3.13 Blender found broken) leaves out the py313 zip and says so."""
    wheels = probe_wheels(tmp_path / "local-wheels")
    res = local_build(tmp_path, wheels, "--platform", "linux-x64", "--layout", "per-python", "--blender-max", "5.1.0")
    assert res.returncode == 0, res.stderr
    assert [z.name for z in (tmp_path / "dist").glob("*.zip")] == ["alive_blender-0.1.0-linux_x64-py311.zip"]
    assert "no Python 3.13 zip" in res.stderr


def test_wheel_coverage_rules():
    m = builder_module()
    linux311 = "torch-2.5.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
    linux313 = "torch-2.5.0+cpu-cp313-cp313-manylinux_2_28_x86_64.whl"
    pure = "open_clip_torch-3.3.0-py3-none-any.whl"
    abi3 = "safetensors-0.8.0-cp38-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    assert m.missing_wheels([linux311, linux313, pure, abi3], ["linux-x64"], ("3.11", "3.13")) == []
    assert m.missing_wheels([linux311, pure], ["linux-x64"], ("3.11", "3.13")) == ["torch for linux-x64, cp313"]
    # a linux wheel says nothing about windows, and macOS universal2 serves both Macs
    assert m.missing_wheels([linux311, linux313], ["linux-x64", "windows-x64"], ("3.11", "3.13")) == []
    uni = "pillow-13.0.0-cp313-cp313-macosx_10_13_universal2.whl"
    assert m.wheel_fits_platform(uni, "macos-arm64") and m.wheel_fits_platform(uni, "macos-x64")
    assert not m.wheel_fits_python(linux311, "3.13") and m.wheel_fits_python(abi3, "3.13")


def zip_manifest(z: Path) -> dict:
    """A built zip's manifest, with what the split-platform build generated for it
    ([build.generated]: this zip's platform and wheels) applied."""
    m = tomllib.loads(zipfile.ZipFile(z).read("blender_manifest.toml").decode())
    m.update(m.get("build", {}).get("generated", {}))
    return m


def builder_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("build_extension", ROOT / "scripts" / "build_extension.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
