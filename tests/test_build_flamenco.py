"""The Flamenco job type compiles (run in Node with a stand-in for Flamenco's
`author` API) into one task per shot running the CLI's batch with --only, plus
a summary task after them; bad shot names are refused."""

import json
import shutil
import subprocess

import pytest

from conftest import ROOT

HARNESS = r"""
const fs = require("fs");
const src = fs.readFileSync(process.argv[2], "utf8");
const author = {
  Task: (name, type) => ({ name, type, commands: [], deps: [],
                           addCommand(c) { this.commands.push(c); }, addDependency(t) { this.deps.push(t.name); } }),
  Command: (type, params) => ({ type, params }),
};
const run = new Function("author", src + "\nreturn [JOB_TYPE, compileJob];");
const [JOB_TYPE, compileJob] = run(author);
const job = { settings: JSON.parse(process.argv[3]), tasks: [], addTask(t) { this.tasks.push(t); } };
for (const s of JOB_TYPE.settings)
  if (job.settings[s.key] === undefined && s.default !== undefined) job.settings[s.key] = s.default;
try { compileJob(job); console.log(JSON.stringify({ label: JOB_TYPE.label, tasks: job.tasks })); }
catch (e) { console.log(JSON.stringify({ error: String(e) })); }
"""


def compile_job(tmp_path, settings):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    harness = tmp_path / "harness.js"
    harness.write_text(HARNESS)
    res = subprocess.run([node, str(harness), str(ROOT / "flamenco" / "alive-batch.js"), json.dumps(settings)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_one_task_per_shot_then_summary(tmp_path):
    out = compile_job(tmp_path, {"shots_toml": "/farm/shots.toml", "shot_names": "sh010, sh020",
                                 "out_dir": "/farm/out"})
    assert out["label"] == "Alive Batch"
    tasks = out["tasks"]
    assert [t["name"] for t in tasks] == ["alive-sh010", "alive-sh020", "alive-summary"]
    cmd = tasks[1]["commands"][0]
    assert cmd["type"] == "exec" and cmd["params"]["exe"] == "{blender}"
    assert cmd["params"]["args"] == ["-c", "alive", "batch", "/farm/shots.toml", "--out", "/farm/out",
                                     "--only", "sh020"]
    assert tasks[2]["deps"] == ["alive-sh010", "alive-sh020"]
    assert tasks[2]["commands"][0]["params"]["args"] == ["-c", "alive", "info", "/farm/out"]
    # the same job through a Python that has the bpy module
    out = compile_job(tmp_path, {"shots_toml": "s.toml", "shot_names": "a", "out_dir": "o",
                                 "cli_exe": "/venv/bin/python", "cli_args": "-m alive_blender"})
    assert out["tasks"][0]["commands"][0]["params"]["args"][:3] == ["-m", "alive_blender", "batch"]


def test_bad_shot_names_are_refused(tmp_path):
    assert "not a shot name" in compile_job(tmp_path, {"shots_toml": "s", "shot_names": "a;rm -rf", "out_dir": "o"})[
        "error"]
    assert "lists no shot" in compile_job(tmp_path, {"shots_toml": "s", "shot_names": " , ", "out_dir": "o"})["error"]
