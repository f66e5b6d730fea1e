"""HiFi-GAN generator: published sizes, shapes, weight-norm removal, registry round trip;
its training task's optional mel-only warm-up and narrow discriminators; the mini config."""

from pathlib import Path

import pytest
import torch
import yaml

from audiokit.frontend.mel import MelSpectrogram
from audiokit.registry import build_model, load_model, save_model
from audiokit.vocoder.hifigan import CONFIGS, HiFiGANGenerator
from audiokit.vocoder.task import HiFiGANTask


def _params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("name, published", [("v1", 13.92e6), ("v2", 0.92e6), ("v3", 1.46e6)])
def test_param_count_matches_paper(name, published):
    # Kong et al. 2020, Table 1: V1 13.92M, V2 0.92M, V3 1.46M.
    n = _params(HiFiGANGenerator(**CONFIGS[name]))
    assert abs(n - published) / published < 0.01, n


def test_output_length_is_frames_times_hop_and_bounded():
    g = HiFiGANGenerator(**CONFIGS["v2"]).eval()
    mel = torch.randn(2, 80, 13)
    with torch.no_grad():
        y = g(mel)
    assert y.shape == (2, 1, 13 * 256)
    assert y.abs().max() <= 1.0
    assert g.hop_length == 256 and g.sample_rate == 22050 and g.n_mels == 80
    assert g.mel_settings["fmax"] == 8000.0


def test_libritts_preset_and_bad_input():
    g = HiFiGANGenerator(**CONFIGS["v2"], mel_preset="libritts_24k")
    assert g.n_mels == 100 and g.sample_rate == 24000
    with pytest.raises(ValueError, match=r"\[B, 100, frames\]"):
        g(torch.randn(1, 80, 5))
    with pytest.raises(ValueError, match="product of upsample_rates"):
        HiFiGANGenerator(upsample_rates=[8, 8, 4, 2])


def test_remove_weight_norm_keeps_the_function():
    g = HiFiGANGenerator(**CONFIGS["v3"]).eval()
    mel = torch.randn(1, 80, 6)
    with torch.no_grad():
        before = g(mel)
        g.remove_weight_norm()
        after = g(mel)
    assert not any("parametrizations" in k for k in g.state_dict())
    torch.testing.assert_close(after, before, atol=1e-6, rtol=1e-5)


def test_registry_round_trip(tmp_path):
    cfg = {"model": {"name": "hifigan", **CONFIGS["v2"]}}
    g = build_model(cfg["model"]).eval()
    save_model(g, tmp_path / "m", cfg)
    g2 = load_model(tmp_path / "m")
    mel = torch.randn(1, 80, 5)
    with torch.no_grad():
        torch.testing.assert_close(g2(mel), g(mel))


# ----------------------------------------------------------------------------- training task

CONF = Path(__file__).resolve().parents[2] / "recipes" / "vocoder" / "conf"
TINY = {"name": "hifigan", "upsample_initial_channel": 16, "resblock_kernel_sizes": [3],
        "resblock_dilation_sizes": [[1]]}
NARROW_D = {"mpd_periods": [2, 3], "msd_scales": 2, "mpd_channels": [4, 8, 16, 16],
            "msd_channels": [16, 16, 16, 16, 16, 16, 16]}


def _batch():
    g = torch.Generator().manual_seed(0)
    return {"wav": torch.randn(2, 2048, generator=g) * 0.3, "lengths": torch.tensor([2048, 1500])}


class _Calls:
    """A fake trainer ``update``: records (optimizer name, loss), backward, no step."""

    def __init__(self, task):
        self.task, self.calls = task, []

    def __call__(self, name, loss):
        self.calls.append((name, float(loss.detach())))
        loss.backward()
        for m in self.task.modules().values():
            m.zero_grad(set_to_none=True)
        return True


def test_mel_warmup_then_all_published_losses():
    torch.manual_seed(0)
    task = HiFiGANTask(TINY, discriminator=NARROW_D, loss={"warmup_steps": 2}, valid_metrics=())
    rec = _Calls(task)
    b = _batch()
    for _ in range(2):
        logs = task.train_step(b, rec)
        assert set(logs) == {"g_loss", "mel"}
    assert [c[0] for c in rec.calls] == ["generator", "generator"]
    # the warm-up loss is 45 x the full-band mel L1, computed here with a fresh front-end
    wav = b["wav"][:, :2048] * (torch.arange(2048) < b["lengths"][:, None])
    with torch.no_grad():
        y_hat = task.generator(task.mel(wav))[:, 0] * (torch.arange(2048) < b["lengths"][:, None])
    full_band = MelSpectrogram(**{**task.generator.mel_settings, "fmax": None})
    ref = (full_band(y_hat) - full_band(wav)).abs().mean()
    assert rec.calls[1][1] == pytest.approx(45 * float(ref), rel=1e-4)
    logs = task.train_step(b, rec)   # step 3: discriminators on, every loss as published
    assert [c[0] for c in rec.calls[2:]] == ["discriminator", "generator"]
    assert rec.calls[3][1] == pytest.approx(logs["adv"] + 2 * logs["fm"] + 45 * logs["mel"], rel=1e-5)
    # the step count is checkpointed with the discriminator; runs without warm-up keep their keys
    assert int(task.discriminator.state_dict()["steps_done"]) == 3
    assert "steps_done" not in HiFiGANTask(TINY, discriminator=NARROW_D, valid_metrics=()).discriminator.state_dict()
    with pytest.raises(ValueError, match="warmup_steps"):
        HiFiGANTask(TINY, loss={"warmup_steps": -1})
    with pytest.raises(ValueError, match="unknown loss weights"):
        HiFiGANTask(TINY, loss={"mell": 45})


def test_narrow_discriminator_widths_reach_the_modules():
    task = HiFiGANTask(TINY, discriminator=NARROW_D, valid_metrics=())
    p = task.discriminator.mpd.discriminators[0]
    assert [c.out_channels for c in p.convs] == [4, 8, 16, 16, 16]
    s = task.discriminator.msd.discriminators[1].disc
    assert [c.out_channels for c in s.convs] == [16] * 7 and len(task.discriminator.msd.discriminators) == 2


def test_mini_recipe_configs_build():
    # model/hifigan_mini: V3 at half width; hifigan/mini: narrow MPD + MSD, mel-only warm-up
    cfg = yaml.safe_load((CONF / "model" / "hifigan_mini.yaml").read_text())
    g = build_model(cfg).eval()
    assert {k: cfg[k] for k in CONFIGS["v3"] if k != "upsample_initial_channel"} == \
        {k: v for k, v in CONFIGS["v3"].items() if k != "upsample_initial_channel"}
    with torch.no_grad():
        y = g(torch.randn(1, 80, 4))
    assert y.shape == (1, 1, 4 * 256)
    mini = yaml.safe_load((CONF / "hifigan" / "mini.yaml").read_text())
    task = HiFiGANTask(cfg, discriminator=mini["discriminator"], loss=mini["loss"], valid_metrics=())
    assert task.weights == {"adv": 1.0, "fm": 2.0, "mel": 45.0} and task.warmup_steps > 0
    assert task.discriminator.mpd.periods == (2, 3, 5, 7, 11)
    assert len(task.discriminator.msd.discriminators) == 3
