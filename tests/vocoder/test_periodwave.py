"""PeriodWave: sizes, period reshaping, energy prior and loss by hand, sampling, overfitting, save/load."""

import math

import numpy as np
import pytest
import torch

from audiokit.frontend.mel import PRESETS
from audiokit.registry import load_model, save_model
from audiokit.vocoder.periodwave import CONFIGS, PeriodWave, periodify, unperiodify

TINY = CONFIGS["tiny"]


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return PeriodWave(**TINY)


def _params(m):
    return sum(p.numel() for p in m.parameters())


# Published sizes (Turbo paper, Table 1: 7.57M / 29.80M / 70.24M), counted for the
# 100-band LibriTTS mel with weight normalisation, as the authors count.
@pytest.mark.parametrize("size,published", [("S", 7.57e6), ("B", 29.80e6), ("L", 70.24e6)])
def test_parameter_counts(size, published):
    m = PeriodWave(**PRESETS["libritts_24k"], **CONFIGS[size])
    assert abs(_params(m) - published) / published < 0.01, _params(m)


@pytest.mark.parametrize("length", [1, 7, 64, 100, 1001])
@pytest.mark.parametrize("period", [1, 2, 3, 5, 7])
def test_periodify_roundtrip_and_layout(length, period):
    x = torch.randn(2, 3, length)
    y = periodify(x, period, multiple=4)
    assert y.shape[-1] == period and (y.shape[-2] * period) % (4 * period) == 0
    assert y.shape[-2] * period >= length
    # Row-major layout: y[..., i, j] is sample i * p + j.
    i, j = divmod(length - 1, period)
    torch.testing.assert_close(y[..., i, j], x[..., length - 1])
    torch.testing.assert_close(unperiodify(y, length), x)


def test_mel_settings_and_bad_input(tiny):
    assert tiny.sample_rate == 22050 and tiny.hop_length == 256 and tiny.n_mels == 80
    assert tiny.mel_settings == {**PRESETS["ljspeech_22k"], "fmin": 0.0}
    with pytest.raises(ValueError, match="mel must be"):
        tiny.generate(torch.randn(1, 100, 4))
    with pytest.raises(ValueError, match="wav must be"):
        tiny.loss(torch.randn(1, 1000), torch.randn(1, 80, 4))
    with pytest.raises(ValueError, match="hop_length"):
        PeriodWave(hop_length=200)


def test_prior_std_against_numpy(tiny):
    mel = torch.randn(2, 80, 6) - 3
    e = np.sqrt(np.exp(mel.double().numpy()).sum(axis=1))
    lo, hi = float(tiny.energy_min), float(tiny.energy_max)
    want = np.maximum((e - lo) / (hi - lo), 0.1)
    np.testing.assert_allclose(tiny.prior_std(mel).numpy(), want, rtol=1e-5)


def test_loss_by_hand_with_a_zero_estimator(tiny, monkeypatch):
    """With v = 0 the loss is mean(((x1 - (1 - s) x0) / sigma)^2), x0 = 0.25 sigma z."""
    mel, wav = torch.randn(2, 80, 4) - 2, 0.3 * torch.randn(2, 1024)
    monkeypatch.setattr(tiny, "vector_field", lambda x, t, conds, freeu=False: torch.zeros_like(x))
    torch.manual_seed(3)
    got = tiny.loss(wav, mel)
    torch.manual_seed(3)
    z = torch.randn(2, 1, 1024)
    sigma = tiny.prior_std(mel).repeat_interleave(256, dim=1)[:, None]
    u = wav[:, None] - (1 - 1e-4) * 0.25 * sigma * z
    torch.testing.assert_close(got, ((u / sigma) ** 2).mean())


def test_loss_ignores_padding(tiny):
    mel, wav = torch.randn(1, 80, 4), torch.randn(1, 1024)
    tiny.eval()
    torch.manual_seed(1)
    with torch.no_grad():
        a = tiny.loss(wav, mel, lengths=torch.tensor([512]))
    wav2 = wav.clone()
    wav2[:, 600:] = 5.0  # only the padding changes
    torch.manual_seed(1)
    with torch.no_grad():
        b = tiny.loss(wav2, mel, lengths=torch.tensor([512]))
    tiny.train()
    assert torch.isfinite(a) and float(a) == float(b)


def test_generate_length_defaults_and_freeu(tiny):
    tiny.eval()
    mel = torch.randn(2, 80, 5) - 4
    g = torch.Generator().manual_seed(0)
    y = tiny.generate(mel, steps=2, generator=g)
    assert y.shape == (2, 5 * 256) and y.abs().max() <= 1
    assert not y.requires_grad
    # FreeU with unit factors is the plain estimator; the published factors change the output.
    y1 = tiny.generate(mel, steps=2, method="euler", freeu=False, generator=torch.Generator().manual_seed(1))
    tiny.freeu_skip, tiny.freeu_backbone = 1.0, 1.0
    y2 = tiny.generate(mel, steps=2, method="euler", freeu=True, generator=torch.Generator().manual_seed(1))
    tiny.freeu_skip, tiny.freeu_backbone = 0.9, 1.1
    y3 = tiny.generate(mel, steps=2, method="euler", freeu=True, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(y1, y2)
    assert not torch.allclose(y1, y3)


def test_sample_follows_the_solver(tiny):
    """sample() = the prior x0 pushed through fm.euler with the model's vector field."""
    tiny.eval()
    mel = torch.randn(1, 80, 3) - 3
    got = tiny.sample(mel, steps=3, method="euler", temperature=0.5, freeu=False,
                      generator=torch.Generator().manual_seed(7))
    sigma = tiny.prior_std(mel).repeat_interleave(256, dim=1)[:, None]
    x0 = torch.randn(sigma.shape, generator=torch.Generator().manual_seed(7)) * 0.25 * sigma * 0.5
    conds = tiny.encode(mel, tiny.prior_std(mel))
    x = x0
    for i in range(3):
        x = x + tiny.vector_field(x, torch.tensor(i / 3), conds) / 3
    torch.testing.assert_close(got, x[:, 0])


def test_overfits_one_clip():
    """The CFM loss on one clip, at fixed draws of (t, x0), falls well below its start."""
    torch.manual_seed(0)
    m = PeriodWave(**TINY)
    t = torch.arange(512) / 22050
    wav = (0.5 * torch.sin(2 * math.pi * 220 * t) * torch.hann_window(512))[None].repeat(4, 1)
    mel = m.mel(wav)
    m.set_energy_stats(0.0, float(m.frame_energy(mel).max()))

    def held_out():
        with torch.random.fork_rng():
            torch.manual_seed(123)
            with torch.no_grad():
                return float(m.loss(wav, mel))

    before = held_out()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for _ in range(20):
        loss = m.loss(wav, mel)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = held_out()
    assert after < 0.5 * before, (before, after)


def test_registry_roundtrip(tmp_path, tiny):
    tiny.set_energy_stats(0.05, 7.5)
    save_model(tiny, tmp_path / "m", {"model": {"name": "periodwave", **tiny.init_kwargs()}})
    loaded = load_model(tmp_path / "m")
    assert isinstance(loaded, PeriodWave)
    assert float(loaded.energy_max) == 7.5 and loaded.init_kwargs() == tiny.init_kwargs()
    for k, v in tiny.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v)
    tiny.eval()
    mel = torch.randn(1, 80, 3)
    torch.testing.assert_close(loaded.generate(mel, steps=1, generator=torch.Generator().manual_seed(0)),
                               tiny.generate(mel, steps=1, generator=torch.Generator().manual_seed(0)))


# ---- packed inference layout (all periods in one U-Net call) ---------------------------
FIVE = dict(CONFIGS["tiny"], periods=(1, 2, 3, 5, 7), hidden_dim=64, mid_dilations=(1, 4))


@pytest.fixture(scope="module")
def five():
    torch.manual_seed(2)
    return PeriodWave(**FIVE).eval()


@pytest.mark.parametrize("t", [5 * 256 - 37, 100], ids=["reflect-pad", "zero-pad"])
def test_packed_layout_holds_each_periods_columns(five, t):
    """pack(): period p's columns are periodify()'s columns, in order, zeros elsewhere."""
    b = 2
    x = torch.randn(b, 1, t)
    conds = five.encode(torch.randn(b, 80, 5), torch.ones(b, 5))
    (pk,) = five.pack(conds, b, t)
    flat = pk.pack(x)[0, 0]
    used = torch.zeros_like(flat, dtype=torch.bool)
    for p, r, s, o in zip(pk.periods, pk.rows, pk.seg, pk.offsets):
        want = periodify(x, p, 64)[:, 0].transpose(1, 2)              # [B, p, rows]
        got = flat[o:o + b * p * s].view(b, p, s)
        torch.testing.assert_close(got[..., :r], want, rtol=0, atol=0)
        used[o:o + b * p * s].view(b, p, s)[..., :r] = True
    assert flat[~used].abs().max() == 0 and pk.gaps[0].numel() == int((~used).sum())


@pytest.mark.parametrize("freeu", [False, True], ids=["plain", "freeu"])
@pytest.mark.parametrize("per_item_t", [False, True], ids=["shared-t", "per-item-t"])
@pytest.mark.parametrize("groups,channels_last", [(1, False), (2, False), (5, False), (1, True)],
                         ids=["one-call", "two-calls", "per-period", "channels-last"])
def test_packed_vector_field_equals_training_layout(five, freeu, per_item_t, groups, channels_last):
    b, frames = 2, 6
    mel = torch.randn(b, 80, frames) - 4
    conds = five.encode(mel, five.prior_std(mel))
    x = torch.randn(b, 1, frames * 256)
    t = torch.tensor([0.2, 0.9]) if per_item_t else torch.tensor(0.4)
    with torch.no_grad():
        want = five.vector_field(x, t, conds, freeu)
        got = five.vector_field_packed(x, t, five.pack(conds, b, frames * 256, channels_last, groups), freeu)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_packed_gaps_must_cover_the_padding(five):
    """The equality above needs the zero gaps: without them columns leak into each other."""
    from audiokit.vocoder.periodwave import PackedPeriods

    mel = torch.randn(1, 80, 4) - 4
    conds = five.encode(mel, five.prior_std(mel))
    x = torch.randn(1, 1, 1024)
    with torch.no_grad():
        want = five.vector_field(x, torch.tensor(0.5), conds)
        narrow = PackedPeriods(five.periods, 1, 1024, conds, gap_bottom=0)
        got = five.vector_field_packed(x, torch.tensor(0.5), [narrow])
    assert (got - want).abs().max() > 1e-3


def test_generate_packed_equals_training_layout(five):
    """The packed sampler (embeddings of all ODE times precomputed, one U-Net call per step)
    against the training layout's per-period loop, step for step."""
    mel = torch.randn(2, 80, 5) - 4
    for method, steps in (("euler", 2), ("midpoint", 2), ("euler", 3)):
        ref = five.generate(mel, steps=steps, method=method, generator=torch.Generator().manual_seed(0), packed=False)
        got = five.generate(mel, steps=steps, method=method, generator=torch.Generator().manual_seed(0), packed=True)
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_sample_packed_follows_a_naive_euler_loop(five):
    """Packed sample() = x0 pushed through a hand-written Euler loop of the training-layout field."""
    mel = torch.randn(1, 80, 4) - 4
    z = torch.randn(1, 1, 4 * 256, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        got = five.sample(mel, steps=2, method="euler", temperature=1.0, freeu=False, packed=True, noise=z)
        std = five.prior_std(mel)
        x = z * 0.25 * std.repeat_interleave(256, dim=1)[:, None]
        conds = five.encode(mel, std)
        for i in range(2):
            x = x + 0.5 * five.vector_field(x, torch.tensor(i / 2), conds)
    torch.testing.assert_close(got, x[:, 0], rtol=1e-5, atol=1e-5)


def test_conditioning_runs_once_per_call(five, monkeypatch):
    """The mel encoder and the time embedding run once per sample(), not once per ODE step."""
    from audiokit.vocoder.periodwave import PeriodWave

    calls = {"encoder": 0, "embedding": 0}
    five.encoder.register_forward_hook(lambda *a: calls.__setitem__("encoder", calls["encoder"] + 1))
    real = PeriodWave._embedding

    def counted(self, *a):
        calls["embedding"] += 1
        return real(self, *a)
    monkeypatch.setattr(PeriodWave, "_embedding", counted)
    with torch.no_grad():
        five.sample(torch.randn(1, 80, 3) - 4, steps=4, method="midpoint", packed=True)
    five.encoder._forward_hooks.clear()
    assert calls == {"encoder": 1, "embedding": 1}


def test_noise_argument_is_the_generators_draw(five):
    mel = torch.randn(2, 80, 3) - 4
    z = torch.randn(2, 1, 3 * 256, generator=torch.Generator().manual_seed(5))
    a = five.generate(mel, steps=2, method="euler", generator=torch.Generator().manual_seed(5))
    b = five.generate(mel, steps=2, method="euler", noise=z)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="noise"):
        five.generate(mel, steps=2, noise=z[:, :, :-1])


def test_graphed_generate_falls_back_on_cpu(five):
    mel = torch.randn(1, 80, 3) - 4
    g = five.graphed(1, 3, steps=2, method="euler", packed=True)
    assert g.graph is None
    want = five.generate(mel, steps=2, method="euler", packed=True, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(g(mel, torch.Generator().manual_seed(1)), want, rtol=0, atol=0)
    with pytest.raises(ValueError, match="captured shape"):
        g(torch.randn(1, 80, 4))
    with pytest.raises(ValueError, match="unknown sampling"):
        five.graphed(1, 3, stepz=2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", [None, torch.bfloat16], ids=["fp32", "bf16"])
def test_graphed_generate_replays_generate_on_cuda(five, dtype):
    import copy

    m = copy.deepcopy(five).cuda()
    mel = (torch.randn(1, 80, 6) - 4).cuda()
    g = m.graphed(1, 6, dtype, steps=2, method="euler", packed=True)
    assert g.graph is not None
    with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
        want = m.generate(mel, steps=2, method="euler", packed=True,
                          generator=torch.Generator("cuda").manual_seed(4))
    for _ in range(2):  # replays are repeatable
        got = g(mel, torch.Generator("cuda").manual_seed(4))
        tol = 2e-2 if dtype else 1e-4
        torch.testing.assert_close(got, want, rtol=tol, atol=tol)
