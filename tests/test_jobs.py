"""Background jobs in real bpy: operators started in the background (mode='ASYNC',
what a click does with a UI) and advanced by ``poll_active_job``, the function
the UI's timer calls (timers never fire in the bpy module, so the test calls it).
Real worker processes throughout."""

from __future__ import annotations

import os
import re
import signal
import time

import pytest

from tests.test_addon import _disable, _enable, one_thread_workers, tiny_scene  # noqa: F401


@pytest.fixture
def addon(fresh_bpy):
    _enable(fresh_bpy)
    yield fresh_bpy
    _disable(fresh_bpy)


def captured_scene(bpy, wd, steps=20):
    scene = tiny_scene(bpy, wd)
    scene.alive.generator_steps = steps
    with bpy.context.temp_override(scene=scene):
        assert bpy.ops.alive.capture() == {"FINISHED"}
    return scene


def poll_until_done(scene, until=None):
    """Call the timer callback like Blender would; returns what the panel showed."""
    from alive_blender.blender.ui.jobs import poll_active_job
    shown = []
    while True:
        delay = poll_active_job()
        shown.append((scene.alive.job_progress, scene.alive.job_status))
        if delay is None or (until is not None and until(scene)):
            return shown
        time.sleep(delay)


def test_async_train_is_polled_to_completion(addon, tmp_path, capfd):
    bpy = addon
    from alive_blender.blender.ui.jobs import RUNNER, poll_active_job
    scene = captured_scene(bpy, tmp_path / "w", steps=250)  # a checkpoint at 200
    from alive_blender.blender.ui.preferences import get_prefs
    get_prefs().keep_worker_logs = True
    with bpy.context.temp_override(scene=scene):
        capfd.readouterr()
        assert bpy.ops.alive.train(mode="ASYNC") == {"FINISHED"}
        assert "running in the background" in capfd.readouterr().out
        job = RUNNER.job
        assert job is not None and job.running and bpy.app.timers.is_registered(poll_active_job)
        with pytest.raises(RuntimeError, match="An Alive job is running"):
            bpy.ops.alive.rollout()
        assert bpy.ops.alive.cancel.poll()
        shown = poll_until_done(scene)
    fractions = [f for f, _ in shown]
    assert any(0.5 < f < 1.0 for f in fractions), "progress of the train stage (2nd of 2) reached the scene"
    assert fractions[-1] == 1.0
    assert any(text.startswith("Train: ") and "generator step" in text for _, text in shown)
    assert job.returncode == 0 and RUNNER.job is None and not bpy.ops.alive.cancel.poll()
    assert job._proc.stdout.closed  # pipes closed, process reaped: its memory is freed
    level, text = RUNNER.reports[-1]
    assert level == "INFO" and re.match(r"Alive: trained '[\w-]+' \+ '[\w-]+' \(PSNR \d+\.\d dB\)", text), text
    out = capfd.readouterr().out
    assert f"Info: {text}" in out  # through the alive.report operator
    assert "Warning: encoder in use is deterministic" in out
    assert scene.alive.job_status.startswith("trained") and scene.alive.train_psnr > 0
    assert scene.alive.train_loss > 0
    assert (tmp_path / "w" / "model" / "manifest.json").exists()
    # the training preview: captured | decoded last frame from the step-200 checkpoint, shown as an image
    img = bpy.data.images["Alive Preview"]
    assert img.filepath.endswith("train_preview.png") and tuple(img.size) == (32, 12)
    log = (tmp_path / "w" / "logs" / "train.log").read_text()
    assert "generator step 250" in log  # "Keep Worker Logs": the worker's own lines


def _generator_step(scene) -> int:
    m = re.search(r"generator step (\d+)", scene.alive.job_status)
    return int(m.group(1)) if m else 0


def test_cancel_stops_the_worker_and_keeps_a_loadable_checkpoint(addon, tmp_path, capfd):
    """Cancel ends the worker within a second: at its next step it saves its state and
    exits with code 3; one still running KILL_AFTER (0.75 s) later is killed (see the next test), and the
    periodic checkpoint is what remains. Either way a loadable checkpoint is left."""
    bpy = addon
    from alive_blender.blender.ui import jobs
    from alive_blender.core.workdir.checkpoint import load_training_state
    scene = captured_scene(bpy, tmp_path / "w", steps=100000)
    with bpy.context.temp_override(scene=scene):
        assert bpy.ops.alive.train(mode="ASYNC") == {"FINISHED"}
        job = jobs.RUNNER.job
        # past the first periodic checkpoint (every 200 steps)
        poll_until_done(scene, until=lambda sc: _generator_step(sc) > 200)
        capfd.readouterr()
        t0 = time.monotonic()
        assert bpy.ops.alive.cancel() == {"FINISHED"}
        assert "Info: Alive: cancelling train" in capfd.readouterr().out
        poll_until_done(scene)
        how = "stopped itself (exit 3)" if job.returncode == 3 else f"was killed ({job.returncode})"
        gone = time.monotonic() - t0
        with capfd.disabled():
            print(f"\ncancel: worker {how}, gone {gone:.2f} s after the cancel")
    assert jobs.KILL_AFTER < 1.0
    assert job.returncode == 3 or (job.killed and job.returncode == -signal.SIGKILL)
    assert not job.running and jobs.RUNNER.job is None
    level, text = jobs.RUNNER.reports[-1]
    assert level == "WARNING" and text.startswith("Alive Train: cancelled (worker ")
    assert text.endswith("the last good checkpoint is kept)")
    assert "Warning: Alive Train: cancelled" in capfd.readouterr().out
    assert scene.alive.job_status == "Train: cancelled"
    state = load_training_state(tmp_path / "w" / "model" / "generator.train.pt")
    assert state["step"] >= 200
    assert not (tmp_path / "w" / "model" / "generator.safetensors").exists()
    assert not (tmp_path / "w" / "model" / "manifest.json").exists()


def test_killed_worker_becomes_an_error_report_and_no_model(addon, tmp_path, capfd):
    bpy = addon
    from alive_blender.blender.ui.jobs import RUNNER
    scene = captured_scene(bpy, tmp_path / "w", steps=100000)
    with bpy.context.temp_override(scene=scene):
        bpy.ops.alive.train(mode="ASYNC")
        job = RUNNER.job
        poll_until_done(scene, until=lambda sc: "generator step" in sc.alive.job_status)
        os.kill(job.pid, signal.SIGKILL)
        capfd.readouterr()
        poll_until_done(scene)
    level, text = RUNNER.reports[-1]
    assert level == "ERROR" and "Alive Train failed: worker stopped unexpectedly (exit code -9)" in text
    assert "Error: Alive Train failed: worker stopped unexpectedly" in capfd.readouterr().out
    assert scene.alive.job_status.startswith("Train failed")
    model = tmp_path / "w" / "model"
    assert not (model / "manifest.json").exists() and not (model / "generator.safetensors").exists()
    assert not [p for p in model.iterdir() if ".tmp" in p.name]  # nothing half-written under a temp name
    with bpy.context.temp_override(scene=scene):
        assert not bpy.ops.alive.rollout.poll()  # still no trained model


def test_a_worker_that_ignores_cancel_is_killed_after_the_deadline(addon, tmp_path, capfd):
    bpy = addon
    from alive_blender.blender.ui import jobs
    scene = captured_scene(bpy, tmp_path / "w", steps=100000)
    with bpy.context.temp_override(scene=scene):
        bpy.ops.alive.train(mode="ASYNC")
        job = jobs.RUNNER.job
        poll_until_done(scene, until=lambda sc: "generator step" in sc.alive.job_status)
        os.kill(job.pid, signal.SIGSTOP)  # a worker stuck in a long step cannot answer
        bpy.ops.alive.cancel()
        t0 = time.monotonic()
        poll_until_done(scene)
        gone = time.monotonic() - t0
        with capfd.disabled():
            print(f"\nstuck worker killed {gone:.2f} s after cancel (deadline {jobs.KILL_AFTER} s)")
    assert job.killed and job.returncode == -signal.SIGKILL
    assert jobs.RUNNER.reports[-1][0] == "WARNING" and "worker killed" in jobs.RUNNER.reports[-1][1]
    model = tmp_path / "w" / "model"
    assert not (model / "manifest.json").exists()
    assert not [p for p in model.rglob("*") if ".tmp-" in p.name]


def test_raising_worker_becomes_an_error_report_with_its_message(addon, tmp_path, capfd):
    bpy = addon
    from alive_blender.blender.ui.jobs import RUNNER
    scene = captured_scene(bpy, tmp_path / "w")
    sample = sorted((tmp_path / "w" / "capture" / "samples").glob("*.npz"))[0]
    sample.write_bytes(b"not an npz file")  # the worker's encode stage raises on it
    with bpy.context.temp_override(scene=scene):
        bpy.ops.alive.train(mode="ASYNC")
        job = RUNNER.job
        poll_until_done(scene)
    level, text = RUNNER.reports[-1]
    assert level == "ERROR" and job.error and job.error in text and job.returncode not in (0, 3)
    assert text in capfd.readouterr().out.replace("Error: ", "")
    assert not (tmp_path / "w" / "model").exists()
    # blocking (background mode) reports the same error from the operator itself
    with bpy.context.temp_override(scene=scene):
        with pytest.raises(RuntimeError, match="Alive Train failed"):
            bpy.ops.alive.train()


def test_opening_a_file_or_disabling_the_addon_stops_a_running_job(addon, tmp_path):
    bpy = addon
    from alive_blender.blender.ui.jobs import RUNNER
    scene = captured_scene(bpy, tmp_path / "w", steps=100000)
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "other.blend"))
    scene = bpy.context.scene
    with bpy.context.temp_override(scene=scene):
        bpy.ops.alive.train(mode="ASYNC")
    job = RUNNER.job
    assert job.running
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "other.blend"))
    assert RUNNER.job is None and job.returncode is not None and job.cancelled
    # disabling the add-on while a job runs stops the worker and removes the timer
    import alive_blender
    from alive_blender.blender.ui.jobs import poll_active_job
    with bpy.context.temp_override(scene=bpy.context.scene):
        bpy.ops.alive.train(mode="ASYNC")
    job = RUNNER.job
    assert job.running and bpy.app.timers.is_registered(poll_active_job)
    alive_blender.unregister()
    try:
        assert RUNNER.job is None and job.returncode is not None
        assert not bpy.app.timers.is_registered(poll_active_job)
    finally:
        alive_blender.register()
