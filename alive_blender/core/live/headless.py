"""A live session played without a UI: scripted inputs, latency and memory measured per tick."""

from __future__ import annotations

import time

import numpy as np

from .inputs import LiveScript, load_script, parse_event, parse_script


def latency(ms) -> dict:
    """median, p95 and max of per-tick milliseconds."""
    a = np.asarray(ms, np.float64)
    if not len(a):
        return {"median": 0.0, "p95": 0.0, "max": 0.0}
    return {"median": round(float(np.median(a)), 3), "p95": round(float(np.percentile(a, 95)), 3),
            "max": round(float(a.max()), 3)}


def play_headless(workdir, ticks: int, size=(0, 0), inputs=None, record=None, seed: int = 0, start=None,
                  temperature: float = 1.0, anchor: float = 0.1, tempo: int = 1, point_density=None,
                  points: bool = True, device: str = "cpu", reporter=None) -> dict:
    """Play ``ticks`` ticks; ``inputs``: a LiveScript, a dict or a .json path. Returns the report."""
    from ..device import pick_device, single_thread
    from .record import TakeRecorder
    from .session import LiveSession, rss_mb
    script = inputs if isinstance(inputs, LiveScript) else (
        parse_script(inputs) if isinstance(inputs, dict) else load_script(inputs) if inputs else LiveScript())
    # the starting controls, checked as strictly as a scripted event's
    initial = parse_event({"tick": 0, "temperature": temperature, "anchor": anchor, "tempo": tempo}, 0)
    mem_start = rss_mb()
    dev = pick_device(device)
    session = LiveSession(workdir, size, dev, seed=seed, start=start, points=points, point_density=point_density,
                          reporter=reporter)
    script.check_objects(session.object_names)
    session.apply(initial)
    late = [e.tick for e in script.events if e.tick >= ticks]
    if late and reporter is not None:
        reporter.warning(f"{len(late)} scripted events come at or after tick {ticks} and are not played")
    recorder = TakeRecorder(session) if record else None
    mem_loaded = rss_mb()
    if reporter is not None:
        reporter.status(f"live: {ticks} ticks at {session.size[0]}x{session.size[1]}, objects "
                        f"{', '.join(session.object_names)}, {len(script.events)} scripted events")
    total, parts, points_n = [], {"step_ms": [], "compose_ms": [], "points_ms": []}, []
    by_tick = {}
    for e in script.events:
        by_tick.setdefault(e.tick, []).append(e)
    with single_thread(dev):
        for t in range(ticks):
            if reporter is not None and t % 50 == 0:
                reporter.check_cancel()
                reporter.progress(t / ticks, f"live tick {t}")
            t0 = time.perf_counter()
            frame = session.step(by_tick.get(t))
            total.append((time.perf_counter() - t0) * 1e3)
            for k in parts:
                parts[k].append(frame.timings.get(k, 0.0))
            points_n.append(0 if frame.positions is None else len(frame.positions))
            if recorder is not None:
                recorder.add(frame)
            if t == 0:
                mem_warm = rss_mb()   # after the first tick: its buffers and lazy imports are not growth
    mem_end = rss_mb()
    result = {"ticks": ticks, "size": list(session.size), "objects": session.object_names,
              "behavior": getattr(getattr(session.behavior, "cfg", None), "arch", type(session.behavior).__name__),
              "stepper": type(session.stepper).__name__, "events": len(script.events),
              "latency_ms": latency(total), **{k[:-3] + "_latency_ms": latency(v) for k, v in parts.items()},
              "points_per_tick": int(np.median(points_n)) if points_n else 0,
              "memory_mb": {"start": round(mem_start, 1), "loaded": round(mem_loaded, 1), "warm": round(mem_warm, 1),
                            "end": round(mem_end, 1), "growth": round(mem_end - mem_warm, 1)},
              "final_sources": session.frame.sources.tolist(), "device": dev}
    if session.prompt:
        result["prompt"] = {"text": session.prompt, "semantic": session.prompt_semantic,
                            "score": session.frame.prompt_score}
    if recorder is not None:
        if reporter is not None:
            reporter.status(f"live: recording the take ({len(recorder)} frames) to {record}")
        result["record"] = recorder.write(record, reporter)
    return result

