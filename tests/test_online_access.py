"""Nothing is fetched while online access is off.

The manifest declares the ``network`` permission for one thing: open_clip
weights named by a pretrained tag. With downloads off (Blender's
``bpy.app.online_access`` off: the panel passes ``allow_download=False``) the
encoder must not open a single connection, whether the tag's weights are in
the cache (open_clip would still ask the hub whether they are current) or not.
A fresh interpreter with every socket connect and name lookup trapped checks it.
"""

import json
import tomllib

import pytest

from conftest import ROOT, run_python

PROBE = r"""
import json, os, socket, sys
from pathlib import Path
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args[:2])[:120])
    raise OSError("network is off in this test")
socket.socket.connect = socket.socket.connect_ex = refuse
socket.create_connection = socket.getaddrinfo = refuse

hf_home, tag, allow = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
if tag == "cached":
    # a cached (and deliberately broken) weights file for laion2b_s34b_b79k, laid out as huggingface_hub does
    repo = Path(hf_home) / "hub" / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K"
    snap = repo / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    (snap / "open_clip_pytorch_model.bin").write_bytes(b"not a checkpoint")
from alive_blender.core.models.encoder import EncoderSpec, make_encoder
from alive_blender.core.errors import AliveError
try:
    make_encoder(EncoderSpec(kind="open_clip", model="ViT-B-32", pretrained="laion2b_s34b_b79k",
                             allow_download=allow))
    error = ""
except AliveError as err:
    error = str(err)
print("RESULT" + json.dumps({"attempts": attempts, "error": error}))
"""


def probe(tmp_path, tag, allow):
    import os
    os.environ["HF_HOME"] = str(tmp_path / "hf")   # inherited by the child; restored below
    try:
        res = run_python(PROBE, tmp_path / "hf", tag, "1" if allow else "0", timeout=240)
    finally:
        os.environ.pop("HF_HOME", None)
    assert "RESULT" in res.stdout, res.stdout[-2000:] + res.stderr[-2000:]
    return json.loads(res.stdout.split("RESULT", 1)[1].splitlines()[0])


@pytest.mark.timeout(300)
def test_offline_tag_not_cached_is_refused_without_a_request(tmp_path):
    out = probe(tmp_path, "missing", allow=False)
    assert out["attempts"] == []
    assert "downloads are off" in out["error"]


@pytest.mark.timeout(300)
def test_offline_cached_tag_loads_the_file_without_asking_the_hub(tmp_path):
    out = probe(tmp_path, "cached", allow=False)
    assert out["attempts"] == []
    # the cached file was read (it is broken on purpose, so loading it fails with a clear error)
    assert "could not load CLIP" in out["error"], out


@pytest.mark.timeout(300)
def test_online_a_download_is_attempted(tmp_path):
    """The guard above is live: with downloads allowed the same call does reach for the network."""
    out = probe(tmp_path, "missing", allow=True)
    assert out["attempts"], out
    assert out["error"]


def test_manifest_declares_network_with_its_reason():
    perms = tomllib.loads((ROOT / "blender_manifest.toml").read_text())["permissions"]
    assert "CLIP" in perms["network"] and "online access" in perms["network"].lower()
    assert set(perms) == {"files", "network"}
