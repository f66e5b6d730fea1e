"""Alignment maths: prior likelihood vs a naive loop, length regulator, durations, losses."""
import math

import pytest
import torch

from audiokit.tts import alignment as A


def test_prior_log_likelihood_matches_normal_logpdf():
    g = torch.Generator().manual_seed(0)
    mu, mel = torch.randn(2, 5, 3, generator=g), torch.randn(2, 5, 7, generator=g)
    ll = A.prior_log_likelihood(mu, mel)
    ref = torch.empty(2, 3, 7)
    for b in range(2):
        for i in range(3):
            for j in range(7):
                ref[b, i, j] = torch.distributions.Normal(mu[b, :, i], 1.0).log_prob(mel[b, :, j]).sum()
    torch.testing.assert_close(ll, ref, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="n_mels"):
        A.prior_log_likelihood(mu, torch.randn(2, 4, 7))


def test_length_regulator_hand_case_and_speed():
    h = torch.tensor([[[1.0], [2.0], [3.0]], [[4.0], [5.0], [0.0]]])
    d = torch.tensor([[2, 0, 3], [1, 2, 0]])
    out, lens = A.length_regulate(h, d)
    assert lens.tolist() == [5, 3]
    assert out[..., 0].tolist() == [[1, 1, 3, 3, 3], [4, 5, 5, 0, 0]]
    # speed 2: d / 2 rounded half-up -> [1, 0, 2] and [1, 1, 0] (0.5 -> 1, 1.5 -> 2)
    out, lens = A.length_regulate(h, d, speed=2.0)
    assert lens.tolist() == [3, 2]
    assert out[..., 0].tolist() == [[1, 3, 3], [4, 5, 0]]
    # slower speech: 0.5 doubles every duration
    _, lens = A.length_regulate(h, d, speed=0.5)
    assert lens.tolist() == [10, 6]
    with pytest.raises(ValueError, match="speed"):
        A.length_regulate(h, d, speed=0.0)


def test_length_regulator_matches_repeat_interleave():
    g = torch.Generator().manual_seed(1)
    h = torch.randn(3, 6, 4, generator=g)
    d = torch.randint(0, 5, (3, 6), generator=g)
    out, lens = A.length_regulate(h, d)
    for b in range(3):
        ref = torch.repeat_interleave(h[b], d[b], dim=0)
        assert lens[b] == ref.shape[0]
        torch.testing.assert_close(out[b, : lens[b]], ref)
        assert out[b, lens[b]:].abs().sum() == 0


def test_durations_from_path_sum_to_mel_lengths():
    g = torch.Generator().manual_seed(2)
    tl, ml = torch.tensor([4, 2]), torch.tensor([9, 5])
    ll = A.prior_log_likelihood(torch.randn(2, 3, 4, generator=g), torch.randn(2, 3, 9, generator=g))
    path = A.maximum_path(ll, tl, ml)
    d = A.durations_from_path(path)
    assert d.sum(1).tolist() == ml.tolist()
    assert (d[0, :4] >= 1).all() and (d[1, :2] >= 1).all() and d[1, 2:].sum() == 0
    # monotonic: the token index of each frame never decreases and steps by at most one
    for b in range(2):
        tok = path[b, :, : ml[b]].argmax(0)
        assert tok[0] == 0 and tok[-1] == tl[b] - 1 and ((tok.diff() == 0) | (tok.diff() == 1)).all()
    # the path through the length regulator reproduces bmm with the path
    h = torch.randn(2, 4, 5, generator=g)
    lr, _ = A.length_regulate(h, d, max_len=9)
    torch.testing.assert_close(lr, torch.bmm(path.transpose(1, 2), h))


def test_losses_against_hand_values():
    mel = torch.zeros(1, 2, 3)
    mu = torch.ones(1, 2, 3)
    # only 2 valid frames: each element has nll 0.5 * (1 + log 2 pi)
    assert A.prior_loss(mu, mel, torch.tensor([2])).item() == pytest.approx(0.5 * (1 + math.log(2 * math.pi)))
    logd = torch.tensor([[0.0, math.log(2.0), 5.0]])
    d = torch.tensor([[1, 4, 0]])
    # valid tokens 0, 1: errors 0 and log 2 - log 4
    assert A.duration_loss(logd, d, torch.tensor([2])).item() == pytest.approx(math.log(2) ** 2 / 2)
