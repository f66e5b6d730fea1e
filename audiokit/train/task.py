"""What the trainer trains: a task names its modules, does one step, validates, exports.

The trainer owns everything generic (devices, AMP, optimizers, clipping, the NaN guard,
checkpoints, logging, DDP); a task owns the maths of one training step. GAN tasks
(MetricGAN discriminator, HiFi-GAN, PeriodWave-Turbo) order their discriminator and
generator updates themselves by calling ``update`` once per optimizer.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import torch
from torch import nn

# update(name, loss) -> bool: backward + clip + step of optimizer `name`; False if skipped (NaN/Inf).
Update = Callable[[str, torch.Tensor], bool]


class Task(Protocol):
    def modules(self) -> dict[str, nn.Module]:
        """Trainable parts by name; each gets an optimizer from ``optim.<name>`` in the config."""

    def train_step(self, batch: Any, update: Update) -> dict[str, float]:
        """Compute losses on ``batch`` and call ``update`` per optimizer; return scalars to log."""

    def validate(self, loader) -> dict[str, float]:
        """Real metrics on the validation set (higher-is-better key named by ``best_metric``)."""

    def export(self) -> tuple[nn.Module, dict]:
        """The inference model and its ``model`` config section (for ``config.yaml``)."""

    def to(self, device: torch.device) -> "Task":
        ...

    def close(self) -> None:
        """Release worker pools and other resources."""
