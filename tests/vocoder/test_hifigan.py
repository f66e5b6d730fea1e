"""HiFi-GAN generator: published sizes, shapes, weight-norm removal, registry round trip."""

import pytest
import torch

from audiokit.registry import build_model, load_model, save_model
from audiokit.vocoder.hifigan import CONFIGS, HiFiGANGenerator


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
