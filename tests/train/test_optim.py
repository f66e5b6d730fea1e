"""Learning-rate schedules as the optimiser sees them, against the published formulas."""
import math

import pytest
import torch

from audiokit.train.optim import build_optimizer, build_scheduler


def _lrs(cfg: dict, steps: int) -> list[float]:
    """The lr used by each of the first ``steps`` updates (what the trainer does: step, then schedule)."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([p], cfg)
    sched = build_scheduler(opt, cfg)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize("d_model,warmup", [(512, 4000), (128, 50)], ids=["paper", "small"])
def test_noam_is_the_transformer_formula(d_model, warmup):
    cfg = {"name": "adam", "lr": 1.0, "betas": [0.9, 0.98], "eps": 1e-9,
           "schedule": {"name": "noam", "warmup": warmup, "d_model": d_model}}
    got = _lrs(cfg, 3 * warmup)
    for step in range(1, 3 * warmup + 1):      # Vaswani et al. 2017, Sec. 5.3; steps count from 1
        want = d_model ** -0.5 * min(step ** -0.5, step * warmup ** -1.5)
        assert got[step - 1] == pytest.approx(want, rel=1e-12)
    peak = max(range(len(got)), key=got.__getitem__)
    assert peak == warmup - 1                  # rises to the end of warm-up, then decays
    if d_model == 512:
        assert got[peak] == pytest.approx(6.99e-4, rel=1e-3)


def test_noam_without_d_model_is_normalised_and_scaled_by_lr():
    got = _lrs({"name": "adam", "lr": 2e-3, "schedule": {"name": "noam", "warmup": 10}}, 40)
    for step in range(1, 41):
        assert got[step - 1] == pytest.approx(2e-3 * min(step ** -0.5, step * 10 ** -1.5) * 10 ** 0.5)
    with pytest.raises(ValueError, match="warmup > 0"):
        _lrs({"name": "adam", "lr": 1.0, "schedule": {"name": "noam", "d_model": 8}}, 1)


def test_cosine_after_linear_warmup():
    total, warmup, lr = 100, 10, 5e-4
    got = _lrs({"name": "adamw", "lr": lr, "weight_decay": 0.1,
                "schedule": {"name": "cosine", "warmup": warmup, "total": total}}, total + 5)
    for i, v in enumerate(got):
        if i < warmup:
            want = lr * (i + 1) / warmup
        else:
            want = lr * 0.5 * (1 + math.cos(math.pi * min(i - warmup, total - warmup) / (total - warmup)))
        assert v == pytest.approx(want, abs=1e-15)
    assert got[warmup - 1] == pytest.approx(lr) and got[total] == 0.0
    short = _lrs({"name": "adamw", "lr": lr, "schedule": {"name": "cosine", "warmup": 10, "total": 4}}, 12)
    assert short[:4] == pytest.approx([lr * (i + 1) / 10 for i in range(4)]) and short[11] == 0.0
    with pytest.raises(ValueError, match="total >= 1"):
        _lrs({"name": "adamw", "lr": lr, "schedule": {"name": "cosine", "total": 0}}, 1)
