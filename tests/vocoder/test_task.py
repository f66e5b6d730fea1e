"""Vocoder trainer tasks: one training step each with a recording ``update``, export, validation."""

import pytest
import torch

from audiokit.registry import build_model
from audiokit.vocoder.task import HiFiGANTask, PeriodWaveTask

TINY_PW = {"name": "periodwave", "hidden_dim": 32, "encoder_blocks": 1, "cond_blocks": 1,
           "mid_dilations": [1], "final_dilations": [1], "periods": [1, 2]}
TINY_HG = {"name": "hifigan", "upsample_initial_channel": 16, "resblock_kernel_sizes": [3],
           "resblock_dilation_sizes": [[1]]}


class Recorder:
    """A fake trainer ``update``: backward, note which modules received gradients, then zero them."""

    def __init__(self, task):
        self.task, self.calls = task, []

    def __call__(self, name, loss):
        loss.backward()
        got = {k: any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())
               for k, m in self.task.modules().items()}
        self.calls.append((name, float(loss.detach()), got))
        for m in self.task.modules().values():
            m.zero_grad(set_to_none=True)
        return True


def batch():
    g = torch.Generator().manual_seed(0)
    return {"wav": torch.randn(2, 2048, generator=g) * 0.3, "lengths": torch.tensor([2048, 1500])}


def test_hifigan_step_order_and_weights():
    torch.manual_seed(0)
    task = HiFiGANTask(TINY_HG, discriminator={"mpd_periods": [2], "msd_scales": 1}, valid_metrics=())
    rec = Recorder(task)
    logs = task.train_step(batch(), rec)
    (n1, d_loss, got_d), (n2, g_loss, got_g) = rec.calls
    assert (n1, n2) == ("discriminator", "generator")
    assert got_d == {"discriminator": True, "generator": False}   # D sees a detached output
    assert got_g["generator"]
    # HiFi-GAN Eq. 5: adv + 2 * fm + 45 * mel
    assert g_loss == pytest.approx(logs["adv"] + 2 * logs["fm"] + 45 * logs["mel"], rel=1e-5)
    assert d_loss == pytest.approx(logs["d_loss"], rel=1e-6)
    model, cfg = task.export()
    assert build_model(cfg).load_state_dict(model.state_dict()) is not None
    v = task.validate([batch()])
    assert v["mel_l1"] > 0


def test_periodwave_step_is_the_cfm_loss():
    torch.manual_seed(0)
    task = PeriodWaveTask(TINY_PW, energy_stats=(0.01, 3.0), valid_steps=1, valid_metrics=())
    assert float(task.generator.energy_min) == pytest.approx(0.01)
    rec = Recorder(task)
    b = batch()
    state = torch.get_rng_state()
    logs = task.train_step(b, rec)
    assert [c[0] for c in rec.calls] == ["generator"] and rec.calls[0][2]["generator"]
    # the same draw through the model's own loss on the hop-aligned crop (2048 = 8 frames)
    torch.set_rng_state(state)
    g = task.generator
    ref = g.loss(b["wav"], g.mel(b["wav"]), b["lengths"])
    assert logs["cfm"] == pytest.approx(float(ref), rel=1e-5)
    model, cfg = task.export()
    assert cfg["energy_max"] == pytest.approx(3.0)
    build_model(cfg).load_state_dict(model.state_dict())
    g.eval()
    v = task.validate([b])
    assert set(v) == {"mel_l1"} and v["mel_l1"] > 0


def test_wrong_model_is_an_error():
    with pytest.raises(ValueError, match="periodwave"):
        PeriodWaveTask(TINY_HG)
    with pytest.raises(ValueError, match="hifigan"):
        HiFiGANTask(TINY_PW)
