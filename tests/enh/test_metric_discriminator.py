"""Metric discriminator, its losses, and PESQ targets against the pesq package."""

from pathlib import Path

import pytest
import torch
from pesq import pesq

from audiokit.audio import load
from audiokit.enh.losses import discriminator_loss, normalize_pesq
from audiokit.enh.metric_discriminator import MetricDiscriminator, PesqPool, batch_pesq

REF_DIR = Path(__file__).resolve().parents[2] / "../shared/data/pesq_reference"
PESQ_WB_REF = 1.0832337141036987  # pesq.pesq(16000, speech, speech_bab_0dB, "wb")


@pytest.fixture(scope="module")
def ref_pair():
    clean, sr = load(REF_DIR / "speech.wav")
    noisy, sr2 = load(REF_DIR / "speech_bab_0dB.wav")
    assert sr == sr2 == 16000
    return clean, noisy


def test_discriminator_shapes_and_range():
    torch.manual_seed(0)
    d = MetricDiscriminator().eval()
    out = d(torch.rand(3, 201, 41), torch.rand(3, 201, 41))
    assert out.shape == (3, 1) and ((out > 0) & (out < 1)).all()
    sn = [n for n, _ in d.named_parameters() if "original" in n]
    assert len(sn) == 6  # 4 convs + 2 linears are spectrally normalised
    with pytest.raises(ValueError):
        d(torch.rand(3, 201, 41), torch.rand(3, 201, 40))


class _Fixed(torch.nn.Module):
    """D(ref, est) = mean(est) per item, so the loss is hand-computable."""

    def forward(self, ref, est):
        return est.mean(dim=(1, 2))[:, None]


def test_discriminator_loss_hand_computed():
    d = _Fixed()
    clean = torch.full((3, 4, 5), 0.8)
    est = torch.stack([torch.full((4, 5), v) for v in (0.1, 0.5, 0.9)])
    q = torch.tensor([0.2, 0.4, 0.6])
    real = (0.8 - 1) ** 2
    fake = ((0.1 - 0.2) ** 2 + (0.5 - 0.4) ** 2 + (0.9 - 0.6) ** 2) / 3
    assert discriminator_loss(d, clean, est, q).item() == pytest.approx(real + fake, rel=1e-6)
    # a failed PESQ drops that item from the second term
    q_nan = torch.tensor([0.2, float("nan"), 0.6])
    fake2 = ((0.1 - 0.2) ** 2 + (0.9 - 0.6) ** 2) / 2
    assert discriminator_loss(d, clean, est, q_nan).item() == pytest.approx(real + fake2, rel=1e-6)
    # all failed, or none given: first term only
    assert discriminator_loss(d, clean, est, torch.full((3,), float("nan"))).item() == pytest.approx(real)
    assert discriminator_loss(d, clean, est, None).item() == pytest.approx(real)


def test_discriminator_loss_does_not_reach_the_generator():
    d = MetricDiscriminator()
    clean = torch.rand(2, 201, 20)
    est = torch.rand(2, 201, 20, requires_grad=True)
    discriminator_loss(d, clean, est, torch.tensor([0.3, 0.5])).backward()
    assert est.grad is None
    assert all(p.grad is not None for p in d.parameters())


def test_batch_pesq_matches_pesq_package(ref_pair):
    clean, noisy = ref_pair
    direct = pesq(16000, clean.numpy(), noisy.numpy(), "wb")
    assert direct == pytest.approx(PESQ_WB_REF, abs=1e-6)
    got = batch_pesq(clean[None], noisy[None], normalize=False)
    assert got.item() == pytest.approx(direct, abs=1e-5)
    assert batch_pesq(clean[None], noisy[None]).item() == pytest.approx(normalize_pesq(direct), abs=1e-5)
    with pytest.raises(ValueError, match="sample_rate"):
        batch_pesq(clean[None], noisy[None], sample_rate=22050)


def test_pesq_pool_equals_pesq_and_nan_for_silence(ref_pair):
    clean, noisy = ref_pair
    n = clean.shape[0]
    c = torch.stack([clean, torch.zeros(n), clean])
    e = torch.stack([noisy, torch.zeros(n), noisy])
    lengths = [n, n, 32000]  # third item: a 2 s prefix
    with PesqPool(sample_rate=16000, workers=2) as pool:
        pending = pool.submit(c, e, lengths)
        out = pending.result()
        assert pool(c[:1], e[:1]).item() == pytest.approx(out[0].item())
    assert out.shape == (3,)
    assert out[0].item() == pytest.approx((PESQ_WB_REF - 1) / 3.5, abs=1e-5)
    assert torch.isnan(out[1])
    prefix = pesq(16000, clean[:32000].numpy(), noisy[:32000].numpy(), "wb")
    assert out[2].item() == pytest.approx((prefix - 1) / 3.5, abs=1e-5)
    with pytest.raises(RuntimeError, match="close"):
        pool(c, e)
