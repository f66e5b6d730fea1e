"""GAN and mel losses against hand-computed values and naive loops."""

import numpy as np
import pytest
import torch

from audiokit.frontend.mel import MelSpectrogram
from audiokit.vocoder.losses import (LAMBDA_FM, LAMBDA_MEL, MultiScaleMelLoss,
                                     discriminator_loss, feature_matching_loss,
                                     generator_adversarial_loss, mel_l1_loss)


def test_lsgan_losses_on_hand_values():
    real = [torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5]])]
    fake = [torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0]])]
    # D: mean((1-r)^2) + mean(g^2) per sub-discriminator
    # [ (0 + 1)/2 + (0 + 4)/2 ] + [ 0.25 + 1 ] = 0.5 + 2 + 1.25
    assert discriminator_loss(real, fake).item() == pytest.approx(3.75)
    # G: mean((1-g)^2): (1 + 1)/2 + 0 = 1
    assert generator_adversarial_loss(fake).item() == pytest.approx(1.0)


def test_feature_matching_on_hand_values():
    real = [[torch.tensor([1.0, 2.0]), torch.tensor([[0.0]])], [torch.tensor([3.0])]]
    fake = [[torch.tensor([0.0, 4.0]), torch.tensor([[1.0]])], [torch.tensor([3.5])]]
    # mean|.| per layer: 1.5, 1.0, 0.5 -> 3.0, times lambda_fm = 2
    assert LAMBDA_FM == 2.0 and LAMBDA_MEL == 45.0
    assert feature_matching_loss(real, fake).item() == pytest.approx(6.0)
    assert feature_matching_loss(real, fake, weight=1.0).item() == pytest.approx(3.0)
    with pytest.raises(ValueError, match="differ in length"):
        feature_matching_loss(real, fake[:1])


def test_mel_l1_loss_is_45_times_the_log_mel_l1():
    torch.manual_seed(0)
    y, y_hat = torch.randn(2, 1, 4096) * 0.1, torch.randn(2, 1, 4096) * 0.1
    mel = MelSpectrogram.from_preset("ljspeech_22k", fmax=None)
    ref = (mel(y[:, 0]) - mel(y_hat[:, 0])).abs().mean() * 45
    torch.testing.assert_close(mel_l1_loss(y, y_hat, mel), ref)


def test_multiscale_mel_loss_against_librosa():
    import librosa
    rng = np.random.default_rng(0)
    y, y_hat = rng.standard_normal((2, 4000)).astype(np.float32) * 0.1
    loss = MultiScaleMelLoss(22050, weight=1.0)(torch.from_numpy(y)[None], torch.from_numpy(y_hat)[None])
    total = 0.0
    for w, m in zip((32, 64, 128, 256, 512, 1024, 2048), (5, 10, 20, 40, 80, 160, 320)):
        fb = librosa.filters.mel(sr=22050, n_fft=w, n_mels=m, htk=False, norm="slaney")
        mags = [np.abs(librosa.stft(s, n_fft=w, hop_length=w // 4, window="hann", center=True,
                                    pad_mode="reflect")) for s in (y, y_hat)]
        logs = [np.log10(np.maximum(fb @ s, 1e-5)) for s in mags]
        total += np.mean(np.abs(logs[0] - logs[1]))
    assert loss.item() == pytest.approx(total, rel=1e-4)
    assert MultiScaleMelLoss(22050)(torch.from_numpy(y)[None], torch.from_numpy(y)[None]).item() == 0.0
