"""The stage table drives the worker, and every protocol message names its stage,
so the panel follows a chain without reading status text."""

from __future__ import annotations

import shutil

from alive_blender.core.run.protocol import Reporter
from alive_blender.core.run.table import FORCEABLE, GROUPS, STAGE_NAMES, group_job
from alive_blender.core.settings import RunSettings


def test_messages_carry_the_stage_once_it_began():
    got = []
    rep = Reporter(got.append)
    rep.status("before any stage")
    rep.begin("train")
    rep.progress(0.5, "half")
    rep.metric("loss", 1.0)
    assert "stage" not in got[0] and [m["stage"] for m in got[1:]] == ["train", "train"]


def test_the_panels_groups_are_runs_of_the_table():
    assert STAGE_NAMES == ("capture", "encode", "train", "rollout", "decode", "bake", "preview")
    assert FORCEABLE == ("capture", "encode", "train", "rollout", "decode")
    job = group_job("all", "/w", RunSettings())
    assert [j["stage"] for j in job["jobs"]] == list(GROUPS["all"]) == ["encode", "train", "rollout", "decode",
                                                                        "preview"]
    train = next(j for j in job["jobs"] if j["stage"] == "train")
    assert train["generator"]["steps"] == RunSettings().generator.steps and train["train_preview"]


def test_worker_chain_reports_each_stage_by_name(tiny_workdir, tmp_path):
    from alive_blender.core.run.table import job
    from alive_blender.core.run.worker import run_stage
    work = tmp_path / "w"
    shutil.copytree(tiny_workdir, work)
    got = []
    settings = RunSettings.from_flat({"rollout_frames": 4, "device": "cpu"})
    results = run_stage({"stage": "chain", "jobs": [job(n, work, settings) for n in ("rollout", "decode", "preview")]},
                        Reporter(got.append))
    assert results[1]["frames"] == 4 and results[2]["preview"].endswith("preview.png")
    seen = [m["stage"] for m in got]
    assert seen == sorted(seen, key=["rollout", "decode", "preview"].index) and set(seen) >= {"rollout", "decode"}


def test_the_panels_job_follows_the_stage_field_not_the_text(fresh_bpy):
    from alive_blender.blender.ui.jobs import Job
    job = Job(group_job("rollout", "/w", RunSettings()))
    assert job.stages == ["rollout", "decode", "preview"]
    job._apply({"type": "status", "message": "something else entirely", "stage": "decode"})
    assert job.stage_index == 1
    job._apply({"type": "progress", "fraction": 0.5, "message": "", "stage": "decode"})
    assert job.overall == (1 + 0.5) / 3
