"""`batch SHOTS.toml`: shots in parallel processes, one broken shot does not stop
the others (exit code 2), bad shot files fail before anything runs, and the same
shots as Ray tasks on a local Ray instance give the same outputs."""

import hashlib
import json
import os

import pytest

from conftest import run_cli, save_tiny_scene

SHOTS = """
[defaults]
resolution = "24x16"
rollout_frames = 5
generator_steps = 40
generator = "grid-siren"   # a trained model: the tests watch its steps
behavior = "mdn-window"
behavior_epochs = 4
samples = 2
threads = 1            # same CPU thread count everywhere: bit-identical results

[[shot]]
name = "sh010"
blend = "scenes/tiny.blend"
frames = "1-6"

[[shot]]
name = "sh020"
blend = "{nocam}"      # absolute path; this scene has no camera: bad input
frames = "1-3"

[[shot]]
name = "sh030"
blend = "scenes/tiny.blend"
frames = "2-5"
seed = 7
"""

OUTPUTS = ["model/generator.safetensors", "model/behavior.safetensors", "rollout/rollout.npy", "decoded/rgb.npy",
           "embed/embeddings.npy"]


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def shots_file(tiny_blend, tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    (root / "scenes").mkdir()
    os.symlink(tiny_blend, root / "scenes" / "tiny.blend")
    nocam = save_tiny_scene(root / "nocam.blend", frames=3, camera=False)
    toml = root / "shots.toml"
    toml.write_text(SHOTS.format(nocam=nocam))
    return toml


@pytest.fixture(scope="module")
def local_batch(shots_file):
    out = shots_file.parent / "out_local"
    res = run_cli("--json", "batch", shots_file, "--out", out, "--jobs", "2")
    return out, res


def test_broken_shot_does_not_stop_the_others(local_batch):
    out, res = local_batch
    assert res.returncode == 2, res.stderr
    summary = json.loads(res.stdout)
    status = {s["name"]: s for s in summary["shots"]}
    assert [s["name"] for s in summary["shots"]] == ["sh010", "sh020", "sh030"]
    assert status["sh010"]["status"] == status["sh030"]["status"] == "ok"
    assert status["sh020"]["status"] == "bad input" and status["sh020"]["exit_code"] == 2
    assert "no active camera" in status["sh020"]["error"]
    assert status["sh010"]["frames"] == 6 and status["sh030"]["frames"] == 4
    for name in ("sh010", "sh030"):
        assert (out / name / "alive.blend").exists() and (out / name / "preview.png").exists()
        assert (out / "logs" / f"{name}.log").read_text().startswith("$ ")
    assert "no active camera" in (out / "logs" / "sh020.log").read_text()
    # summary table on stderr, summary file on disk
    table = res.stderr[res.stderr.index("shot "):]
    assert "sh020" in table and "bad input" in table and "sh010" in table
    assert json.loads((out / "batch.json").read_text())["failed"] == 1
    # per-shot overrides reached the shot: different seeds, different models
    assert digest(out / "sh010" / "model" / "generator.safetensors") != \
        digest(out / "sh030" / "model" / "generator.safetensors")
    info = run_cli("info", out)
    assert info.returncode == 0 and "1 failed" in info.stdout and "sh020" in info.stdout


def test_dry_run_and_only(shots_file, tmp_path):
    res = run_cli("--json", "batch", shots_file, "--out", tmp_path / "o", "--only", "sh030", "--dry-run")
    assert res.returncode == 0, res.stderr
    cmd = json.loads(res.stdout)["commands"]["sh030"]
    assert cmd[cmd.index("--seed") + 1] == "7" and cmd[cmd.index("--frames") + 1] == "2-5"
    assert cmd[cmd.index("--out") + 1] == str(tmp_path / "o" / "sh030")
    assert cmd[cmd.index("run") + 1] == str(shots_file.parent / "scenes" / "tiny.blend")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("text, words", [
    ("[[shot]]\nblend = 'a.blend'\nresolutoin = '8x8'\n", ["unknown setting 'resolutoin'"]),
    ("[[shot]]\nname = 'x'\n", ["has no blend"]),
    ("[[shot]]\nblend = 'a.blend'\n[[shot]]\nblend = 'a.blend'\n", ["used twice"]),
    ("[[shot]\nblend = 'a.blend'\n", ["not valid TOML"]),
    ("[defaults]\nseed = 1\n", ["lists no shots"]),
    ("[[shot]]\nblend = 'a.blend'\nout = 'x'\n", ["unknown setting 'out'", "batch sets it"]),
])
def test_bad_shot_files_fail_before_running(tmp_path, text, words):
    toml = tmp_path / "shots.toml"
    toml.write_text(text)
    res = run_cli("batch", toml, "--out", tmp_path / "o")
    assert res.returncode == 2, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("alive: error:") and all(w in last for w in words), last
    assert not (tmp_path / "o").exists()


def test_ray_batch_matches_local_batch(local_batch, shots_file):
    pytest.importorskip("ray")
    local_out, _ = local_batch
    out = shots_file.parent / "out_ray"
    res = run_cli("--json", "batch", shots_file, "--out", out, "--ray", "local", "--only", "sh010",
                  "--only", "sh030", env={"RAY_USAGE_STATS_ENABLED": "0"})
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["runner"] == "ray (local)" and summary["ok"] == 2
    assert all(s.get("ray") for s in summary["shots"])
    for name in ("sh010", "sh030"):
        for rel in OUTPUTS:
            assert digest(out / name / rel) == digest(local_out / name / rel), f"{name}/{rel}"
        assert (out / name / "alive.blend").exists()


def test_sigterm_stops_a_batch_and_its_shots(shots_file, tmp_path):
    import signal
    import subprocess
    import sys
    import time
    from conftest import ROOT
    toml = shots_file.parent / "long.toml"
    toml.write_text(shots_file.read_text().replace("generator_steps = 40", "generator_steps = 5000"))
    out = tmp_path / "o"
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "alive_blender", "--json", "batch", str(toml), "--out", str(out),
                             "--only", "sh010"], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    log = out / "logs" / "sh010.log"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists() and "generator step" in log.read_text():  # the shot is training
            break
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 3, stderr
    (shot,) = json.loads(stdout)["shots"]
    assert json.loads((out / "batch-sh010.json").read_text())["shots"] == [shot]
    assert shot["status"] == "cancelled" and shot["exit_code"] == 3
    assert "alive: cancelled" in log.read_text()
    assert (out / "sh010" / "model" / "generator.train.pt").exists()  # the next batch run resumes from it


def test_gpu_shots_are_split_into_cpu_and_gpu_ray_tasks(shots_file, tmp_path):
    from alive_blender.cli.cmd_batch import run_flags
    from alive_blender.core.run.batch import load_shots, ray_tasks
    toml = tmp_path / "gpu.toml"
    toml.write_text(shots_file.read_text().replace('seed = 7', 'seed = 7\ngpus = 1'))
    shots = {s.name: s for s in load_shots(toml, run_flags())}
    (plain,) = ray_tasks(shots["sh010"], tmp_path / "o", run_flags())
    assert plain["num_gpus"] == 0 and "--until" not in plain["argv"]
    prep, train = ray_tasks(shots["sh030"], tmp_path / "o", run_flags())
    assert prep["num_gpus"] == 0 and prep["argv"][-2:] == ["--until", "encode"]
    assert train["num_gpus"] == 1 and "--until" not in train["argv"]
    assert train["argv"][train["argv"].index("--device") + 1] == "cuda"

