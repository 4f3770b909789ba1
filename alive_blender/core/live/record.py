"""A live take written as an ordinary rollout, so ``decode`` and ``bake`` replay it.

``TakeRecorder`` collects, per played tick, the state the session showed
(source sample and world matrix per object slot); ``write(out)`` writes

- ``OUT.npy``: (1, N, D) embeddings, each played frame composed at the
  generator's size and encoded with the work directory's encoder (what
  metrics, steering and the bake's trajectory read);
- ``OUT.states.npy``: (1, N, M) int32 source samples (what ``decode``
  composes, so the baked frames are the frames played);
- ``OUT.poses.npy``: (1, N, M, 4, 4) float64 world matrices per object slot;
- ``OUT.json``: the rollout's description (``start_frame``: the camera the
  take was seen through; ``live``: how it was played).

The recorder grows with the take (M ints and M matrices per tick); the
session itself does not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import AliveError


class TakeRecorder:
    def __init__(self, session):
        self.session = session
        self.sources = []
        self.poses = []

    def __len__(self) -> int:
        return len(self.sources)

    def add(self, frame) -> None:
        self.sources.append(np.asarray(frame.sources, np.int32).copy())
        self.poses.append(np.asarray(frame.poses, np.float64).copy())

    def write(self, out, reporter=None) -> dict:
        from ..models.steering import workdir_encoder
        from ..sphere import normalize
        from ..workdir.artifacts import save_npy, write_json
        from ..stepping import StepState
        from .session import compose_state
        out = Path(out).expanduser().absolute()
        if out.suffix != ".npy":
            raise AliveError(f"take file '{out}' is not a .npy file", "name it like take.npy")
        if not self.sources:
            raise AliveError("the take is empty: nothing was played", "play at least one tick before recording")
        s = self.session
        states = np.stack(self.sources)[None]                 # (1, N, M)
        poses = np.stack(self.poses)[None]                    # (1, N, M, 4, 4)
        encoder = workdir_encoder(s.workdir, s.device)
        N = states.shape[1]
        emb = np.empty((1, N, s.generator.dim), np.float32)
        for i0 in range(0, N, 16):
            if reporter is not None:
                reporter.check_cancel()
            rgb = np.stack([compose_state(s.generator, StepState(states[0, i], poses[0, i]), 0, 0)["rgb"]
                            for i in range(i0, min(N, i0 + 16))])
            emb[0, i0:i0 + len(rgb)] = encoder.encode_images((rgb * 255 + 0.5).astype(np.uint8))
        emb = normalize(emb)
        states_file, poses_file = out.with_suffix(".states.npy"), out.with_suffix(".poses.npy")
        info = {"settings": {"steps": N - 1, "count": 1, "seed": s.seed, "start": s.start_sample},
                "behavior": getattr(getattr(s.behavior, "cfg", None), "arch", None),
                "start_frame": int(s.start_sample), "shape": list(emb.shape), "file": str(out),
                "states": str(states_file), "poses": str(poses_file),
                "objects": [int(o) for o in getattr(s.behavior, "objects", [])],
                "object_names": list(s.object_names),
                # which poses the frames showed (relational/drawing.py): free = R.poses.npy, else the states'
                "poses_drawn": "free" if getattr(s.stepper, "free_poses", False) else "captured",
                "live": {"ticks": N, "size": list(s.size), "tempo": s.tempo}}
        out.parent.mkdir(parents=True, exist_ok=True)
        # every array first, the description last: a reader that finds the .json finds the take whole
        save_npy(states_file, states.astype(np.int32))
        save_npy(poses_file, poses)
        save_npy(out, emb)
        write_json(out.with_suffix(".json"), info)
        return info
