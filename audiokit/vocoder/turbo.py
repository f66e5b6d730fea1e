"""PeriodWave-Turbo: a trained PeriodWave fine-tuned as a fixed-step generator with GAN losses.

Lee, Choi & Lee 2024, "Accelerating High-Fidelity Waveform Generation via Adversarial Flow
Matching Optimization" (arXiv 2408.08019), Sec. 3:

* the pre-trained CFM estimator is unrolled for a fixed number of Euler steps (2 or 4; the
  authors' configs use 4) from the energy prior at temperature 1, and the whole ODE
  trajectory is differentiated (Sec. 3.1);
* the output is trained against the recording with the multi-scale mel loss (weight 45,
  Sec. 3.2), and adversarially with the multi-period discriminator (periods 2, 3, 5, 7, 11)
  and the multi-scale sub-band CQT discriminator (hops 512/256/256, 24/36/48 bins per
  octave, 128 filters as in the authors' config), least-squares GAN losses and feature
  matching (weight 2) (Sec. 3.3, BigVGAN-v2's recipe);
* optimiser (the recipe's ``optim`` section): AdamW, lr 2e-5 for generator and
  discriminators, batch 8 x 32768 samples (authors' ``periodwave_turbo`` configs).

The exported model is a plain :class:`~audiokit.vocoder.periodwave.PeriodWave` whose
config records ``steps``/``method="euler"``/``temperature``/``freeu=False``, so
``generate(mel)`` on a loaded Turbo model uses its fixed step count.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from audiokit.registry import build_model, load_model
from audiokit.vocoder.discriminators import MultiPeriodDiscriminator, MultiScaleSubbandCQTDiscriminator
from audiokit.vocoder.losses import (discriminator_loss, feature_matching_loss,
                                     generator_adversarial_loss, MultiScaleMelLoss)
from audiokit.vocoder.periodwave import PeriodWave

__all__ = ["TurboDiscriminator", "PeriodWaveTurboTask", "LOSS_WEIGHTS"]

# Generator loss weights: multi-scale mel 45 (authors' w_stft), feature matching 2
# (BigVGAN's feature_loss doubles the L1), adversarial 1.
LOSS_WEIGHTS = {"mel": 45.0, "fm": 2.0, "adv": 1.0}


class TurboDiscriminator(nn.Module):
    """MPD + MS-SB-CQTD under one optimizer: ``forward(y, y_hat) -> {"mpd": ..., "cqt": ...}``,
    each value ``(real_scores, fake_scores, real_feats, fake_feats)``."""

    def __init__(self, sample_rate: int, mpd_periods=(2, 3, 5, 7, 11), cqt: dict | None = None):
        super().__init__()
        self.mpd = MultiPeriodDiscriminator(tuple(mpd_periods))
        self.cqt = MultiScaleSubbandCQTDiscriminator(sample_rate, **{"filters": 128, **(cqt or {})})

    def forward(self, y: torch.Tensor, y_hat: torch.Tensor) -> dict:
        return {"mpd": self.mpd(y, y_hat), "cqt": self.cqt(y, y_hat)}


class PeriodWaveTurboTask:
    """Trainer task (see :mod:`audiokit.train.task`) fine-tuning PeriodWave into PeriodWave-Turbo.

    Args:
        model: ``{"name": "periodwave", **kwargs}`` to build the generator; ignored when
            ``pretrained`` is given (the paper always starts from a trained PeriodWave).
        pretrained: a PeriodWave model directory (``config.yaml`` + ``model.safetensors``).
        steps: fixed Euler steps (2 or 4 in the paper). temperature: prior scale (1.0).
        discriminator: ``{"mpd_periods": [...], "cqt": {MultiScaleSubbandCQTDiscriminator kwargs}}``.
        loss: weights overriding :data:`LOSS_WEIGHTS` (keys mel, fm, adv).
        valid_metrics: metrics of :func:`audiokit.metrics.score.score_pair` for :meth:`validate`.

    Batches: ``{"wav": [B, T], "lengths": [B] (optional)}`` with peak-normalised audio.
    """

    def __init__(self, model: dict | None = None, pretrained: str | None = None, steps: int = 4,
                 temperature: float = 1.0, discriminator: dict | None = None,
                 loss: dict | None = None, valid_metrics=("pesq_wb",)):
        if pretrained is not None:
            self.generator = load_model(pretrained)
        elif model is not None:
            self.generator = build_model(dict(model))
        else:
            raise ValueError("PeriodWaveTurboTask: give a pretrained PeriodWave directory or a model config")
        if not isinstance(self.generator, PeriodWave):
            raise ValueError(f"PeriodWaveTurboTask: the generator must be a PeriodWave, got "
                             f"{type(self.generator).__name__}")
        self.generator.train()
        self.generator.set_sampling(steps=steps, method="euler", temperature=temperature, freeu=False)
        self.sample_rate = self.generator.sample_rate
        disc = dict(discriminator or {})
        self.discriminator = TurboDiscriminator(self.sample_rate, disc.get("mpd_periods", (2, 3, 5, 7, 11)),
                                                disc.get("cqt"))
        unknown = set(loss or {}) - set(LOSS_WEIGHTS)
        if unknown:
            raise ValueError(f"PeriodWaveTurboTask: unknown loss weights {sorted(unknown)}; known: {sorted(LOSS_WEIGHTS)}")
        self.weights = {**LOSS_WEIGHTS, **(loss or {})}
        self.mel_loss = MultiScaleMelLoss(self.sample_rate, weight=1.0)
        self.valid_metrics = tuple(valid_metrics)
        self.device = torch.device("cpu")

    def modules(self):
        return {"generator": self.generator, "discriminator": self.discriminator}

    def to(self, device):
        self.device = torch.device(device)
        for m in (self.generator, self.discriminator, self.mel_loss):
            m.to(self.device)
        return self

    def _inputs(self, batch):
        if not isinstance(batch, dict) or "wav" not in batch:
            raise ValueError("PeriodWaveTurboTask: a batch must be a dict with 'wav' [B, T] (and optional 'lengths')")
        wav = batch["wav"].to(self.device).float()
        g = self.generator
        frames = g.mel.num_frames(wav.shape[-1])
        wav = wav[:, : frames * g.hop_length]
        with torch.autocast(self.device.type, enabled=False):
            mel = g.mel(wav)
        mask = None
        if batch.get("lengths") is not None:
            lengths = batch["lengths"].to(self.device)
            mask = (torch.arange(wav.shape[-1], device=self.device) < lengths[:, None]).float()
        return wav, mel, mask

    def train_step(self, batch, update):
        wav, mel, mask = self._inputs(batch)
        y_hat = self.generator.sample(mel).float()        # differentiable through the Euler steps
        if mask is not None:
            y_hat = y_hat * mask
            wav = wav * mask
        # Discriminators on the detached output.
        out = self.discriminator(wav, y_hat.detach())
        d_loss = sum(discriminator_loss(o[0], o[1]) for o in out.values())
        update("discriminator", d_loss)
        # Generator: adversarial + feature matching through the updated discriminators, + mel.
        out = self.discriminator(wav, y_hat)
        w = self.weights
        adv = sum(generator_adversarial_loss(o[1]) for o in out.values())
        fmatch = sum(feature_matching_loss(o[2], o[3], weight=1.0) for o in out.values())
        mel = self.mel_loss(wav, y_hat)
        g_loss = w["adv"] * adv + w["fm"] * fmatch + w["mel"] * mel
        update("generator", g_loss)
        return {"d_loss": float(d_loss.detach()), "g_loss": float(g_loss.detach()),
                "adv": float(adv.detach()), "fm": float(fmatch.detach()), "msmel": float(mel.detach())}

    @torch.no_grad()
    def validate(self, loader):
        from audiokit.metrics.score import score_pair

        g = self.generator
        was_training = g.training
        g.eval()
        vals: dict[str, list[float]] = {"mel_l1": [], **{m: [] for m in self.valid_metrics}}
        for batch in loader:
            wav, mel, _ = self._inputs(batch)
            lengths = batch.get("lengths")
            y_hat = g.generate(mel).float()
            for i in range(wav.shape[0]):
                n = min(int(lengths[i]), wav.shape[-1]) if lengths is not None else wav.shape[-1]
                n -= n % g.hop_length
                if n < g.mel.n_fft:
                    continue
                ref, est = wav[i, :n], y_hat[i, :n]
                vals["mel_l1"].append(float((g.mel(ref) - g.mel(est)).abs().mean()))
                if self.valid_metrics:
                    scores = score_pair(ref.cpu(), est.cpu(), self.sample_rate, list(self.valid_metrics), errors="nan")
                    for k, v in scores.items():
                        if v is not None and math.isfinite(v):
                            vals[k].append(v)
        if was_training:
            g.train()
        return {k: sum(v) / len(v) for k, v in vals.items() if v}

    def export(self):
        return self.generator, {"name": "periodwave", **self.generator.init_kwargs()}

    def close(self):
        pass
