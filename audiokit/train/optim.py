"""Optimizers and learning-rate schedules from plain config dicts.

One optimizer per trainable module of a task, e.g.::

    optim:
      generator: {name: adamw, lr: 5.0e-4, betas: [0.8, 0.99], weight_decay: 0.01,
                  schedule: {name: exponential, gamma: 0.99, every: 1000}}

Schedules are step-based (LambdaLR multipliers) so resume restores them exactly.
"""

from __future__ import annotations

import math

import torch

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


def build_optimizer(params, cfg: dict) -> torch.optim.Optimizer:
    cfg = {k: v for k, v in dict(cfg).items() if k not in ("schedule", "grad_clip")}
    name = cfg.pop("name", "adamw").lower()
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {sorted(OPTIMIZERS)}")
    if "betas" in cfg:
        cfg["betas"] = tuple(cfg["betas"])
    return OPTIMIZERS[name](params, **cfg)


def lr_multiplier(schedule: dict | None):
    """Return ``f(step) -> factor`` for a schedule config.

    - ``constant``: 1 (after optional linear ``warmup`` steps);
    - ``exponential``: ``gamma ** (step // every)`` (MP-SENet / HiFi-GAN decay ``gamma`` per
      epoch; set ``every`` to the steps per epoch);
    - ``cosine``: half-cosine from 1 to ``final`` between the end of ``warmup`` and ``total``
      steps (linear warm-up, then cosine decay: the schedule of Lina-Speech's public code);
    - ``noam``: Vaswani et al. 2017, Sec. 5.3,
      ``d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)`` with ``step`` counted from 1; with
      ``d_model`` given the factor is exactly that (the base lr is then a scale, 1.0 as
      published; Transformer-TTS, Li et al. 2019, Sec. 4.2, uses it with warmup 4000), without
      it the factor is normalised to 1 at the end of ``warmup``.
    """
    s = dict(schedule or {"name": "constant"})
    name = s.get("name", "constant")
    warmup = int(s.get("warmup", 0))

    def warm(step):
        return min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0

    if name == "constant":
        return warm
    if name == "exponential":
        gamma, every = float(s["gamma"]), int(s.get("every", 1))
        return lambda step: warm(step) * gamma ** (step // every)
    if name == "cosine":
        total, final = int(s["total"]), float(s.get("final", 0.0))
        if total < 1:
            raise ValueError(f"cosine schedule needs total >= 1, got {total}")

        def cosine(step):  # a run no longer than its warm-up (a smoke test) ends at `final`
            t = min(max(step - warmup, 0) / max(total - warmup, 1), 1.0)
            return warm(step) * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * t)))
        return cosine
    if name == "noam":
        if warmup <= 0:
            raise ValueError("noam schedule needs warmup > 0")
        # LambdaLR calls f(0) for the first update: the paper's step is step + 1
        scale = float(s["d_model"]) ** -0.5 if s.get("d_model") else warmup ** 0.5
        return lambda step: scale * min((step + 1) ** -0.5, (step + 1) * warmup ** -1.5)
    raise ValueError(f"unknown schedule {name!r}; choose constant, exponential, cosine or noam")


def build_scheduler(optimizer, cfg: dict) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_multiplier(dict(cfg).get("schedule")))
