"""What the two trainers (the calibration organism and the real-parts audio LM) share: one
optimiser step."""

from __future__ import annotations

from typing import Any


def optimiser_step(loss: Any, params: list[Any], optimiser: Any, schedule: Any) -> float:
    """One step on ``loss``: gradients clipped to norm 1, the optimiser and its schedule
    advanced; the loss as a float."""
    import torch

    optimiser.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimiser.step()
    schedule.step()
    return float(loss.detach())
