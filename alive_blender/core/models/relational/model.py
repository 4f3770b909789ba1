"""The trained relational behavior: the simulator's weights plus the captured poses it draws from."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ...errors import AliveError
from . import ARCH
from .simulator import RelationalNetConfig, RelationalSimulator
from .state import pose_features, velocities


class RelationalBehavior:
    """What ``train`` makes and ``rollout`` steps (see ``stepper.RelationalStepper``)."""

    stochastic = False

    def __init__(self, cfg, dim: int, net: RelationalSimulator, world: np.ndarray, frames: np.ndarray,
                 objects: list, names: list, groups: list, contact: np.ndarray, bounds: Optional[np.ndarray],
                 info: Optional[dict] = None, device: str = "cpu"):
        self.cfg = cfg                        # the BehaviorConfig it was trained with (arch 'relational')
        self.dim = int(dim)
        self.net = net.eval()
        self.world = np.asarray(world, np.float64)      # (F, M, 4, 4) captured world matrix per real frame
        self.frames = np.asarray(frames, np.int64)      # (F,) capture sample index of each real frame
        self.objects = [int(o) for o in objects]
        self.object_names = list(names)
        self.groups = [list(map(int, g)) for g in groups]
        self.contact = np.asarray(contact, bool)
        self.bounds = None if bounds is None else np.asarray(bounds, np.float64)
        self.info = dict(info or {})
        self.device = device
        self.poses = pose_features(self.world)           # (F, M, 12)
        self.vels = velocities(self.poses)
        steps = np.linalg.norm(self.vels, axis=-1)       # (F, M)
        self.top_speed = steps.max(0)
        # pose class of each slot per frame (the first frame with that pose): frames whose classes agree
        # for every slot show the same arrangement (as object_walk does)
        flat = self.world[..., :3, :4].reshape(len(self.world), len(self.objects), -1)
        self.pose_class = np.array([[int(np.flatnonzero(np.abs(flat[:, m] - flat[i, m]).max(1) <= 1e-4)[0])
                                     for m in range(flat.shape[1])] for i in range(len(flat))])
        self.captured = {tuple(row) for row in self.pose_class}
        self.step_size = np.array([max(float(np.median(s[s > 1e-9])) if (s > 1e-9).any() else 1e-3, 1e-6)
                                   for s in steps.T])

    def header(self) -> dict:
        return {"kind": "behavior", "config": self.cfg.to_dict(), "dim": self.dim, "format": 1,
                "objects": self.objects, "names": self.object_names, "groups": self.groups,
                "contact": self.contact.astype(int).tolist(), "net": self.net.cfg.to_dict(), "train": self.info}

    def save(self, path: Path) -> None:
        import torch
        from ...workdir.checkpoint import save_model
        state = dict(self.net.state_dict())
        state["captured.world"] = torch.from_numpy(self.world)
        state["captured.frames"] = torch.from_numpy(self.frames)
        if self.bounds is not None:
            state["captured.bounds"] = torch.from_numpy(self.bounds)
        save_model(Path(path), state, self.header())

    @classmethod
    def from_state(cls, state: dict, header: dict, config_type, device: str = "cpu") -> "RelationalBehavior":
        """``config_type``: behavior.BehaviorConfig (passed in: behavior.py imports this module)."""
        if "captured.world" not in state:
            raise AliveError("relational checkpoint lacks its captured poses", "train again")
        net = RelationalSimulator(RelationalNetConfig(**header["net"]))
        weights = {k: v for k, v in state.items() if not k.startswith("captured.")}
        try:
            net.load_state_dict(weights)
        except RuntimeError as err:
            raise AliveError(f"relational checkpoint does not match its network: {str(err).splitlines()[0]}",
                             "train again") from None
        bounds = state.get("captured.bounds")
        return cls(config_type.from_dict(header["config"]), header["dim"], net, state["captured.world"].numpy(),
                   state["captured.frames"].numpy(), header["objects"], header["names"], header["groups"],
                   np.asarray(header["contact"], bool), None if bounds is None else bounds.numpy(),
                   header.get("train"), device)


def is_relational(header: dict) -> bool:
    return (header.get("config") or {}).get("arch") == ARCH
