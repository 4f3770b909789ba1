"""Stage resume: a re-run skips what did not change, --force re-runs one stage,
SIGTERM stops at a safe point and an interrupted training continues to the
same result as an uninterrupted one; tampered or unsafe checkpoints are refused."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import ROOT, TINY_RUN, run_cli, run_python

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # bit-exact CPU results, less contention


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def done_run(tiny_blend, tmp_path_factory):
    """One finished tiny `run` (shared by the tests below; they copy it), made
    in two steps: `--until encode` (what a farm's CPU task does), then the rest."""
    work = tmp_path_factory.mktemp("resume") / "work"
    res = run_cli("--json", "run", tiny_blend, "--out", work, *TINY_RUN, "--until", "encode", env=ONE_THREAD)
    assert res.returncode == 0, res.stderr
    partial = json.loads(res.stdout)
    assert partial["until"] == "encode" and "train" not in partial and "stopped after encode" in res.stderr
    assert (work / "embed" / "embeddings.npy").exists() and not (work / "model").exists()
    assert not (work / "alive.blend").exists()
    res = run_cli("--json", "run", tiny_blend, "--out", work, *TINY_RUN, env=ONE_THREAD)
    assert res.returncode == 0, res.stderr
    assert "capture: up to date" in res.stderr and "encode: up to date" in res.stderr
    return work, json.loads(res.stdout)


def copy_upto_encode(src, dst):
    """A work directory holding only the capture and the embeddings of ``src``."""
    dst.mkdir(parents=True)
    shutil.copytree(src / "capture", dst / "capture")
    shutil.copytree(src / "embed", dst / "embed")
    state = json.loads((src / "alive.json").read_text())
    state["stages"] = {k: v for k, v in state["stages"].items() if k in ("capture", "encode")}
    (dst / "alive.json").write_text(json.dumps(state))


def test_rerun_skips_unchanged_stages_and_force_reruns_one(done_run, tiny_blend, tmp_path):
    work, first = done_run
    weights = sha(work / "model" / "generator.safetensors")
    res = run_cli("--json", "run", tiny_blend, "--out", work, *TINY_RUN, env=ONE_THREAD)
    assert res.returncode == 0, res.stderr
    for stage in ("capture", "encode", "train", "rollout", "decode"):
        assert f"alive: {stage}: up to date" in res.stderr
    assert "alive: capture: 0 rendered, 6 unchanged" in res.stderr  # nothing rendered
    again = json.loads(res.stdout)
    assert again["capture"]["skipped"] and again["train"] == first["train"]
    assert again["bake"]["points_per_frame"] == first["bake"]["points_per_frame"]
    # same file content under another name is the same scene; a changed rollout setting
    # re-runs from the stage it feeds; --force train retrains (same seed: same weights)
    same = tmp_path / "copy.blend"
    shutil.copyfile(tiny_blend, same)
    res = run_cli("run", same, "--out", work, *TINY_RUN, "--temperature", "0.5", "--force", "train", env=ONE_THREAD)
    assert res.returncode == 0, res.stderr
    assert "capture: up to date" in res.stderr and "encode: up to date" in res.stderr
    assert "train: up to date" not in res.stderr and "train: generator" in res.stderr
    assert "rollout: up to date" not in res.stderr
    assert sha(work / "model" / "generator.safetensors") == weights
    # an edit to what a render reads (a light's strength): re-render, re-encode, retrain
    edited, other = tmp_path / "edited.blend", tmp_path / "other"
    shutil.copytree(work, other)
    res = run_python("import bpy, sys\nbpy.ops.wm.open_mainfile(filepath=sys.argv[1])\n"
                     "for light in bpy.data.lights: light.energy *= 0.25\n"
                     "bpy.ops.wm.save_as_mainfile(filepath=sys.argv[2])", tiny_blend, edited)
    assert res.returncode == 0, res.stderr
    res = run_cli("run", edited, "--out", other, *TINY_RUN, env=ONE_THREAD)
    assert res.returncode == 0, res.stderr
    for stage in ("capture", "encode", "train"):
        assert f"{stage}: up to date" not in res.stderr
    assert sha(other / "model" / "generator.safetensors") != weights  # darker frames, other weights
    res = run_cli("run", tiny_blend, "--out", work, *TINY_RUN, "--force", "nonsense")
    assert res.returncode == 2 and "invalid choice" in res.stderr


def worker(job, **popen):
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **ONE_THREAD)
    return subprocess.Popen([sys.executable, "-m", "alive_blender.core.run.worker", json.dumps(job)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, **popen)


def test_interrupted_training_resumes_to_the_same_result(done_run, tmp_path):
    work, _ = done_run
    # small network so the test is quick; enough steps that SIGTERM lands mid-run
    gen = {"arch": "grid-siren", "steps": 150, "hidden": 32, "seed": 3, "checkpoint_every": 40}
    beh = {"arch": "mdn-window", "epochs": 4, "seed": 3}
    job = lambda wd: {"stage": "train", "workdir": str(wd), "generator": gen, "behavior": beh, "device": "cpu"}

    straight = tmp_path / "straight"
    copy_upto_encode(work, straight)
    proc = worker(job(straight))
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err

    stopped = tmp_path / "stopped"
    copy_upto_encode(work, stopped)
    proc = worker(job(stopped))
    for line in proc.stdout:  # protocol lines; stop once training is under way
        if '"generator step' in line:
            proc.send_signal(signal.SIGTERM)
            break
    rest, err = proc.communicate(timeout=600)
    assert proc.returncode == 3, err
    assert '"code":3' in rest.replace(" ", "")
    state_file = stopped / "model" / "generator.train.pt"
    assert state_file.exists() and not (stopped / "model" / "generator.safetensors").exists()
    info = run_cli("--json", "info", stopped)
    assert info.returncode == 0, info.stderr
    step = json.loads(info.stdout)["training_in_progress"]["step"]
    assert 0 < step < gen["steps"]

    proc = worker(job(stopped))
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert f"resuming generator training at step {step}" in out
    assert not state_file.exists()
    for name in ("generator.safetensors", "behavior.safetensors"):
        assert sha(stopped / "model" / name) == sha(straight / "model" / name), name


def test_sigterm_stops_run_cleanly_at_a_safe_point(done_run, tiny_blend, tmp_path):
    work, _ = done_run
    wd = tmp_path / "w"
    copy_upto_encode(work, wd)
    args = ["run", tiny_blend, "--out", wd, *[a for a in TINY_RUN if a != "60"]]
    args[args.index("--generator-steps") + 1:args.index("--generator-steps") + 1] = ["5000"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **ONE_THREAD)
    proc = subprocess.Popen([sys.executable, "-m", "alive_blender", *map(str, args)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "generator step" in line:
            proc.send_signal(signal.SIGTERM)
            break
    rest = proc.communicate(timeout=300)[1]
    assert proc.returncode == 3, "".join(seen) + rest
    assert "alive: cancelled: cancelled during train" in rest and "Traceback" not in rest
    assert any("capture: up to date" in s for s in seen)  # the copied capture was reused, not re-rendered
    assert (wd / "model" / "generator.train.pt").exists()
    assert not (wd / "alive.blend").exists() and not list(wd.rglob(".*tmp*"))


def test_tampered_weights_are_refused(done_run, tiny_blend, tmp_path):
    work, _ = done_run
    wd = tmp_path / "w"
    shutil.copytree(work, wd)
    weights = wd / "model" / "generator.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    res = run_cli("run", tiny_blend, "--out", wd, *TINY_RUN, "--force", "rollout")
    assert res.returncode == 2, res.stderr
    assert "checksum mismatch" in res.stderr and "generator.safetensors" in res.stderr
    assert "Traceback" not in res.stderr
    info = json.loads(run_cli("--json", "info", wd).stdout)
    assert info["model"]["check"].startswith("FAILED: checksum mismatch")


class _Payload:
    def __reduce__(self):
        return (open, (os.environ["ALIVE_TEST_MARKER"], "w"))


def test_training_state_never_unpickles_objects(tmp_path, monkeypatch):
    from alive_blender.core.workdir.checkpoint import load_training_state
    from alive_blender.core.errors import AliveError
    marker = tmp_path / "pwned"
    monkeypatch.setenv("ALIVE_TEST_MARKER", str(marker))
    bad = tmp_path / "generator.train.pt"
    import torch
    torch.save({"step": 3, "evil": _Payload()}, bad)
    assert not marker.exists()
    with pytest.raises(AliveError, match="refused training checkpoint"):
        load_training_state(bad)
    assert not marker.exists()


def test_manifest_mismatches_are_explained(done_run):
    from alive_blender.core.workdir.checkpoint import check_compatible
    from alive_blender.core.errors import AliveError
    work, _ = done_run
    manifest = json.loads((work / "model" / "manifest.json").read_text())
    assert manifest["versions"]["torch"] and manifest["files"] and manifest["generator"]["arch"]
    identity = json.loads((work / "embed" / "encoder.json").read_text())["identity"]
    assert check_compatible(manifest, work / "model", identity) == []
    with pytest.raises(AliveError, match="another encoder"):
        check_compatible(manifest, work / "model", "open_clip:ViT-B-32:some-weights")
    old = dict(manifest, versions=dict(manifest["versions"], alive_blender="0.0.1"))
    with pytest.raises(AliveError, match="trained by alive_blender 0.0.1"):
        check_compatible(old, work / "model", identity)
    other_torch = dict(manifest, versions=dict(manifest["versions"], torch="1.13.0"))
    assert "torch 1.13.0" in check_compatible(other_torch, work / "model", identity)[0]
