"""One step of a behavior: the interface a live session and a rollout both drive.

A *stepper* advances the scene's per-object state one tick under the seed's
controls. Every behavior that can be played live offers one (the object walk,
the relational behavior); the live session (``core/live``) and offline
rollouts call the same ``step``, so a control that acts in one acts in the
other, and none can be silently ignored: a stepper that cannot honour a
control raises or reports it, it does not drop it.

State per moving object slot m (M slots, in the generator's object order):

- ``sources[m]``: the capture sample whose pixels show object m. The
  object-layers generator composes exactly these (``ObjectLayers.compose``).
- ``poses[m]``: object m's world matrix (4x4). With a 3-D composer
  (``core/world``) the frame is drawn from these; where only object-layers is
  available a stepper keeps each pose equal to its source sample's captured
  pose, so what it says is what can be drawn.
- ``memory``: whatever the model carries between steps (a GRU's hidden state,
  a walk's cursor); opaque to callers, and bounded so a long session stays flat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Protocol

import numpy as np

from .rollout import RolloutConfig   # the one default of the controls a rollout and a tick share


@dataclass
class StepControls:
    """The controls of one tick (all optional; defaults are the seed's)."""
    temperature: float = 1.0                       # scales the sampled randomness
    anchor: float = RolloutConfig.anchor           # pull toward the nearest captured joint state (seed: 0.1)
    held: frozenset = frozenset()                  # slots that hold still this tick
    goals: dict = field(default_factory=dict)      # slot -> (3,) world position the object heads for
    goal_strength: float = 1.0                     # 0..1: how hard a goal pulls
    ground: bool = False                           # snap to the nearest captured joint state this tick
    loop_target: Optional["StepState"] = None      # pull toward this state (a rollout's --loop)
    loop_weight: float = 0.0                       # 0..1: how hard (rises to 1 at the loop's end)


@dataclass
class StepState:
    sources: np.ndarray            # (M,) int: capture sample per object slot
    poses: np.ndarray              # (M, 4, 4) float: world matrix per object slot
    memory: Any = None             # the model's own memory between steps
    step: int = 0                  # ticks since the start


class Stepper(Protocol):
    """What a behavior offers to be stepped (see the module docstring)."""

    object_names: list            # slot m -> the object's name in the scene

    def start(self, frame: int, seed: int) -> StepState:
        """The state showing captured real frame ``frame`` (index into the behavior's real frames),
        with its random stream seeded by ``seed``."""
        ...

    def step(self, state: StepState, controls: StepControls) -> StepState:
        """The next state. Must not keep references that grow with the number of steps."""
        ...


def steps_to(choices, targets) -> np.ndarray:
    """Fewest steps from each frame to the nearest of ``targets`` (inf: unreachable), where
    ``choices[i]`` are the frames a stepper may show after frame i (a breadth-first search backwards:
    a goal heads there along those choices instead of stalling where its motion first turns away)."""
    back = [[] for _ in choices]   # the reversed choice graph
    for i, opts in enumerate(choices):
        for j in opts:
            back[int(j)].append(i)
    dist = np.full(len(choices), np.inf)
    frontier = list(targets)
    dist[frontier] = 0
    while frontier:
        nxt = []
        for j in frontier:
            for i in back[j]:
                if dist[i] == np.inf:
                    dist[i] = dist[j] + 1
                    nxt.append(i)
        frontier = nxt
    return dist
