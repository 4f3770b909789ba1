"""Worker processes that misbehave: one that hangs, one that floods its pipe,
one that exits without a result. The add-on's Job must end each with a
report, keep memory bounded, and never block the poll (the panel's timer)."""

from __future__ import annotations

import sys
import time

import pytest

pytestmark = pytest.mark.timeout(120)


def fake_python(tmp_path, name: str, code: str) -> str:
    """Stands in for the worker's interpreter: ignores the worker arguments, runs ``code``."""
    script = tmp_path / f"{name}.py"
    script.write_text(code)
    launcher = tmp_path / name
    launcher.write_text(f"#!/bin/sh\nexec '{sys.executable}' '{script}'\n")
    launcher.chmod(0o755)
    return str(launcher)


def poll_until_done(job, limit: float = 60.0) -> float:
    """Poll like the panel's timer; returns the slowest single poll (seconds)."""
    t0, slowest = time.monotonic(), 0.0
    while True:
        p0 = time.monotonic()
        running = job.poll()
        slowest = max(slowest, time.monotonic() - p0)
        if not running:
            return slowest
        assert time.monotonic() - t0 < limit, "the job never ended"
        time.sleep(0.02)


def test_hung_worker_is_stopped_with_a_report(tmp_path):
    from alive_blender.blender.ui.jobs import Job
    code = ("import time\nprint('ALIVE {\"type\":\"status\",\"message\":\"train: step 1\"}', flush=True)\n"
            "time.sleep(600)\n")
    job = Job({"stage": "train"}, python=fake_python(tmp_path, "hang", code), stall_timeout=1.5).start()
    t0 = time.monotonic()
    slowest = poll_until_done(job)
    assert 1.5 <= time.monotonic() - t0 < 20
    assert job.killed and job.error_code == 1
    assert "worker hung" in job.error and "train: step 1" in job.error
    assert slowest < 0.5


def test_flooding_worker_keeps_memory_bounded_and_reports(tmp_path):
    from alive_blender.blender.ui.jobs import Job
    from alive_blender.core.run.worker_process import LOG_LINES
    code = ("import sys\nfor _ in range(50_000):\n    sys.stdout.write('x' * 511 + '\\n')\n"
            "sys.stdout.write('y' * 5_000_000)\nsys.stderr.write('e' * 3_000_000 + '\\n')\n"
            "print('\\nALIVE {\"type\":\"error\",\"message\":\"gave up\",\"code\":2}', flush=True)\n"
            "sys.exit(2)\n")
    job = Job({"stage": "train"}, python=fake_python(tmp_path, "flood", code)).start()
    slowest = poll_until_done(job)
    assert job.returncode == 2 and job.error == "gave up" and job.error_code == 2
    assert len(job.log) == LOG_LINES and max(len(line) for line in job.log) <= 2000
    assert slowest < 1.0
    job.write_log(tmp_path / "w.log")
    assert (tmp_path / "w.log").stat().st_size < 20_000_000


def test_worker_that_exits_without_a_result(tmp_path):
    from alive_blender.blender.ui.jobs import Job
    job = Job({"stage": "train"}, python=fake_python(tmp_path, "quiet", "print('bye')\n")).start()
    poll_until_done(job)
    assert job.returncode == 0 and job.result is None
    assert job.error == "worker ended without reporting a result"
