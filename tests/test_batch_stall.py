"""`batch`: a shot whose process stops printing is stopped after the stall
limit (the worker's, STALL_TIMEOUT, unless --stall-timeout says otherwise),
reported as hung with its exit code and the reason in the summary and
batch.json, and the other shots go on (issue 22, item 4). The shots' processes
here are small Python scripts standing in for ``alive run`` (the batch treats
any child alike); the limit is tiny so the test takes seconds."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from alive_blender.core.errors import EXIT_INTERNAL

# argv: --json run BLEND --out WORKDIR --name NAME
SHOT = r"""
import json, subprocess, sys, time
name = sys.argv[sys.argv.index("--name") + 1]
if name == "stuck":      # prints once, then hangs (with a child of its own, which must go too)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    open(sys.argv[sys.argv.index("--out") + 1] + ".child", "w").write(str(child.pid))
    print("alive: train: step 1", file=sys.stderr, flush=True)
    time.sleep(120)
elif name == "slow":     # longer than the limit in all, but never silent for that long
    for i in range(6):
        print(f"alive: train: step {i}", file=sys.stderr, flush=True)
        time.sleep(0.4)
print(json.dumps({"ok": True, "blend": name + ".blend"}))
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state   # a zombie has ended (its parent, init, reaps it)


def test_a_shot_that_stops_printing_is_reported_hung_and_the_others_go_on(tmp_path):
    from alive_blender.core.run.batch import run_batch, summary_table
    script = tmp_path / "shot.py"
    script.write_text(SHOT)
    toml = tmp_path / "SHOTS.toml"
    toml.write_text("".join(f'[[shot]]\nname = "{n}"\nblend = "{n}.blend"\n' for n in ("stuck", "slow", "fine")))
    t0 = time.monotonic()
    summary = run_batch(toml, tmp_path / "out", [sys.executable, str(script)], {}, jobs=3, stall_timeout=1.0)
    seconds = time.monotonic() - t0
    shots = {r["name"]: r for r in summary["shots"]}
    assert shots["stuck"]["status"] == "hung"
    assert shots["stuck"]["exit_code"] == EXIT_INTERNAL
    assert "no output for 1 s" in shots["stuck"]["error"], shots["stuck"]
    assert shots["slow"]["status"] == "ok" and shots["fine"]["status"] == "ok"
    assert summary["exit_code"] == EXIT_INTERNAL and summary["ok"] == 2 and summary["failed"] == 1
    assert seconds < 30, seconds   # not the stuck shot's 120 s
    child = int((tmp_path / "out" / "stuck.child").read_text())
    assert not alive(child), "the hung shot's own child process was left running"
    on_disk = {r["name"]: r for r in json.loads((tmp_path / "out" / "batch.json").read_text())["shots"]}
    assert on_disk["stuck"]["status"] == "hung" and on_disk["stuck"]["exit_code"] == EXIT_INTERNAL
    assert "no output for 1 s" in on_disk["stuck"]["error"]
    table = summary_table(summary["shots"])
    row = next(line for line in table.splitlines() if line.startswith("stuck"))
    assert "hung" in row and "no output for 1 s" in row, table
    assert "hung" in (tmp_path / "out" / "logs" / "stuck.log").read_text()


def test_batch_takes_the_workers_stall_limit_by_default():
    from alive_blender.cli import build_parser
    from alive_blender.core.run.worker_process import STALL_TIMEOUT
    args = build_parser().parse_args(["batch", "SHOTS.toml", "--out", "o"])
    assert args.stall_timeout == STALL_TIMEOUT
    assert build_parser().parse_args(["batch", "S.toml", "--out", "o", "--stall-timeout", "5"]).stall_timeout == 5


@pytest.mark.slow
@pytest.mark.parametrize("runner", ["local", "ray"])
def test_a_real_run_that_hangs_is_stopped_by_either_runner(tiny_blend, tmp_path, monkeypatch, runner):
    """A real ``alive run`` that goes silent: it waits for the work directory's
    lock, which this test holds (ALIVE_LOCK_WAIT makes it wait, not fail). The
    other shot renders its capture and stops there (--until capture)."""
    if runner == "ray":
        pytest.importorskip("ray")
    from alive_blender.cli.cmd_batch import check_shot, run_flags
    from alive_blender.core.run.batch import run_batch
    from alive_blender.core.workdir.lock import workdir_lock
    monkeypatch.setenv("ALIVE_LOCK_WAIT", "300")
    out = tmp_path / "out"
    toml = tmp_path / "SHOTS.toml"
    toml.write_text(f'[defaults]\nblend = "{tiny_blend}"\nframes = "1-2"\nresolution = "24x16"\nsamples = 1\n'
                    f'until = "capture"\n[[shot]]\nname = "locked"\n[[shot]]\nname = "free"\n')
    with workdir_lock(out / "locked"):
        summary = run_batch(toml, out, [sys.executable, "-m", "alive_blender"], run_flags(), jobs=2, check=check_shot,
                            stall_timeout=8.0, ray_address="local" if runner == "ray" else "")
    shots = {r["name"]: r for r in summary["shots"]}
    assert shots["locked"]["status"] == "hung" and shots["locked"]["exit_code"] == EXIT_INTERNAL, shots["locked"]
    assert "no output for 8 s" in shots["locked"]["error"]
    assert shots["free"]["status"] == "ok", shots["free"]
    assert shots["locked"]["seconds"] < 120
