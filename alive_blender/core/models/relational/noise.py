"""Input noise for training (GNS's main determinant of long-rollout quality).

A rollout feeds the model its own slightly wrong states; trained only on
clean captured states it has never seen such inputs and errors grow. As in
learning_to_simulate's ``noise_utils``, the inputs of a training window get a
random walk of noise (each step adds a little, so the input drifts like a
rollout does) and the targets lead from the noisy state back to the
captured path.
"""

from __future__ import annotations

import torch


def random_walk_noise(shape, steps: int, std: float, generator: torch.Generator) -> torch.Tensor:
    """(steps, *shape) noise whose last step has standard deviation ``std`` (per-step std / sqrt(steps))."""
    if std <= 0:
        return torch.zeros((steps, *shape))
    per_step = std / max(steps, 1) ** 0.5
    return torch.cumsum(torch.randn((steps, *shape), generator=generator) * per_step, 0)
