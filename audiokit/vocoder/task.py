"""Trainer tasks (:mod:`audiokit.train.task`) for the vocoders.

* :class:`HiFiGANTask` -- Kong et al. 2020, "HiFi-GAN", Sec. 2.4: the generator is
  trained against the multi-period (periods 2, 3, 5, 7, 11) and multi-scale discriminators
  (one optimizer for both, as in the reference code) with least-squares GAN losses
  (Eq. 1-2), feature matching x2 (Eq. 4-5) and the full-band mel L1 x45 (Eq. 3, 5);
  discriminators first on the detached output, then the generator.
* :class:`PeriodWaveTask` -- Lee et al. 2024, "PeriodWave", Sec. 3: one optimizer on the
  conditional flow-matching loss with the energy prior (:meth:`PeriodWave.loss`, Eqs. 1-4).
* PeriodWave-Turbo is :class:`audiokit.vocoder.turbo.PeriodWaveTurboTask`.

Batches are ``{"wav": [B, T], "lengths": [B]}`` of peak-normalised audio
(:mod:`audiokit.vocoder.data`). Validation copy-synthesises whole dev utterances and
reports ``mel_l1`` (L1 of the model's log-mel, lower is better) and the
:func:`~audiokit.metrics.score.score_pair` metrics asked for (``pesq_wb`` by default).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from audiokit.frontend.mel import MelSpectrogram
from audiokit.registry import build_model
from audiokit.vocoder.discriminators import MultiPeriodDiscriminator, MultiScaleDiscriminator
from audiokit.vocoder.hifigan import HiFiGANGenerator
from audiokit.vocoder.losses import (LAMBDA_FM, LAMBDA_MEL, discriminator_loss, feature_matching_loss,
                                     generator_adversarial_loss, mel_l1_loss)
from audiokit.vocoder.periodwave import PeriodWave

__all__ = ["HiFiGANDiscriminator", "HiFiGANTask", "PeriodWaveTask", "trim_to_frames"]


def trim_to_frames(wav: torch.Tensor, mel: MelSpectrogram) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop ``wav [B, T]`` to ``frames * hop`` samples and return it with its log-mel."""
    frames = mel.num_frames(wav.shape[-1])
    wav = wav[:, : frames * mel.hop_length]
    with torch.autocast(wav.device.type, enabled=False):
        return wav, mel(wav.float())


def _mask(batch, wav: torch.Tensor):
    if batch.get("lengths") is None:
        return None
    lengths = batch["lengths"].to(wav.device)
    return (torch.arange(wav.shape[-1], device=wav.device) < lengths[:, None]).to(wav.dtype)


class _Validator:
    """Shared validation: copy-synthesise each dev item, average mel L1 and ``score_pair`` metrics."""

    valid_metrics: tuple[str, ...]
    device: torch.device

    def _synthesise(self, mel: torch.Tensor) -> torch.Tensor:  # [B, n_mels, F] -> [B, F * hop]
        raise NotImplementedError

    @torch.no_grad()
    def validate(self, loader):
        from audiokit.metrics.score import score_pair

        vals: dict[str, list[float]] = {"mel_l1": [], **{m: [] for m in self.valid_metrics}}
        mel_fn = self.mel
        for batch in loader:
            lengths = batch["lengths"]
            for i in range(batch["wav"].shape[0]):
                n = int(lengths[i])
                if n < mel_fn.n_fft:
                    continue
                ref, mel = trim_to_frames(batch["wav"][i:i + 1, :n].to(self.device).float(), mel_fn)
                est = self._synthesise(mel).float()[:, : ref.shape[-1]]
                with torch.autocast(self.device.type, enabled=False):
                    vals["mel_l1"].append(float((mel_fn(est) - mel).abs().mean()))
                if self.valid_metrics:
                    scores = score_pair(ref[0].cpu(), est[0].cpu(), self.sample_rate, list(self.valid_metrics),
                                        errors="nan")
                    for k, v in scores.items():
                        if v is not None and math.isfinite(v):
                            vals[k].append(v)
        return {k: sum(v) / len(v) for k, v in vals.items() if v}


class HiFiGANDiscriminator(nn.Module):
    """MPD + MSD under one optimizer: ``forward(y, y_hat) -> {"mpd": ..., "msd": ...}``, each
    ``(real_scores, fake_scores, real_feats, fake_feats)``.

    ``mpd_channels`` / ``msd_channels`` / ``msd_groups`` narrow the sub-discriminators
    (:class:`DiscriminatorP`, :class:`DiscriminatorS`); ``None`` keeps the published widths."""

    def __init__(self, mpd_periods=(2, 3, 5, 7, 11), msd_scales: int = 3, mpd_channels=None,
                 msd_channels=None, msd_groups=None):
        super().__init__()
        mpd = {} if mpd_channels is None else {"channels": mpd_channels}
        msd = {k: v for k, v in (("channels", msd_channels), ("groups", msd_groups)) if v is not None}
        self.mpd = MultiPeriodDiscriminator(tuple(mpd_periods), **mpd)
        self.msd = MultiScaleDiscriminator(msd_scales, **msd)

    def forward(self, y, y_hat):
        return {"mpd": self.mpd(y, y_hat), "msd": self.msd(y, y_hat)}


class HiFiGANTask(_Validator):
    """HiFi-GAN training (see the module docstring).

    Args:
        model: ``{"name": "hifigan", **HiFiGANGenerator kwargs}``.
        discriminator: :class:`HiFiGANDiscriminator` kwargs (``mpd_periods``, ``msd_scales``,
            ``mpd_channels``, ``msd_channels``, ``msd_groups``).
        loss: weights ``{"fm": 2, "mel": 45, "adv": 1}`` (HiFi-GAN Eq. 5), and optionally
            ``warmup_steps``: that many first steps train the generator on the mel L1
            alone, with the discriminators frozen. Not in HiFi-GAN, which uses every loss
            from step 0; a generator-only phase before adversarial training is common
            practice (Parallel WaveGAN, Yamamoto et al. 2020, Sec. 4: discriminator fixed
            for the first 100k steps; Multi-band MelGAN, Yang et al. 2021: generator
            pre-training) and helps very short runs. Default 0: as published. The count
            of steps done is a buffer of the discriminator, so it is checkpointed and
            resumes exactly.
        valid_metrics: :func:`score_pair` metrics for validation.
    """

    def __init__(self, model: dict, discriminator: dict | None = None, loss: dict | None = None,
                 valid_metrics=("pesq_wb",)):
        self.model_cfg = dict(model)
        self.generator = build_model(self.model_cfg)
        if not isinstance(self.generator, HiFiGANGenerator):
            raise ValueError(f"HiFiGANTask: model must be a hifigan, got {self.model_cfg.get('name')!r}")
        self.discriminator = HiFiGANDiscriminator(**(discriminator or {}))
        loss = dict(loss or {})
        warmup = loss.pop("warmup_steps", 0) or 0
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise ValueError(f"HiFiGANTask: loss.warmup_steps must be an int >= 0, got {warmup!r}")
        self.warmup_steps = warmup
        if warmup:  # only then, so checkpoints of runs without warm-up keep their keys
            self.discriminator.register_buffer("steps_done", torch.zeros((), dtype=torch.long))
        weights = {"adv": 1.0, "fm": LAMBDA_FM, "mel": LAMBDA_MEL}
        unknown = set(loss) - set(weights)
        if unknown:
            raise ValueError(f"HiFiGANTask: unknown loss weights {sorted(unknown)}; known: "
                             f"{sorted(weights)} (and warmup_steps)")
        self.weights = {**weights, **loss}
        s = self.generator.mel_settings
        self.sample_rate = s["sample_rate"]
        self.mel = MelSpectrogram(**s)                    # the conditioning mel (fmax 8 kHz)
        self.loss_mel = MelSpectrogram(**{**s, "fmax": None})  # HiFi-GAN's loss mel is full band
        self.valid_metrics = tuple(valid_metrics)
        self.device = torch.device("cpu")

    def modules(self):
        return {"generator": self.generator, "discriminator": self.discriminator}

    def to(self, device):
        self.device = torch.device(device)
        for m in (self.generator, self.discriminator, self.mel, self.loss_mel):
            m.to(self.device)
        return self

    def in_warmup(self) -> bool:
        """True while the generator trains on the mel L1 alone (``loss.warmup_steps``)."""
        return bool(self.warmup_steps) and int(self.discriminator.steps_done) < self.warmup_steps

    def train_step(self, batch, update):
        wav, mel = trim_to_frames(batch["wav"].to(self.device).float(), self.mel)
        y_hat = self.generator(mel).float()[:, 0]
        mask = _mask(batch, wav)
        if mask is not None:  # zero-padded tails stay silent on both sides
            y_hat, wav = y_hat * mask, wav * mask
        if self.warmup_steps:
            warm = self.in_warmup()
            self.discriminator.steps_done += 1
            if warm:
                with torch.autocast(self.device.type, enabled=False):
                    mel_l1 = mel_l1_loss(wav, y_hat, self.loss_mel, weight=1.0)
                g_loss = self.weights["mel"] * mel_l1
                update("generator", g_loss)
                return {"g_loss": float(g_loss.detach()), "mel": float(mel_l1.detach())}
        out = self.discriminator(wav[:, None], y_hat.detach()[:, None])
        d_loss = sum(discriminator_loss(o[0], o[1]) for o in out.values())
        update("discriminator", d_loss)
        out = self.discriminator(wav[:, None], y_hat[:, None])
        w = self.weights
        adv = sum(generator_adversarial_loss(o[1]) for o in out.values())
        fmatch = sum(feature_matching_loss(o[2], o[3], weight=1.0) for o in out.values())
        with torch.autocast(self.device.type, enabled=False):
            mel_l1 = mel_l1_loss(wav, y_hat, self.loss_mel, weight=1.0)
        g_loss = w["adv"] * adv + w["fm"] * fmatch + w["mel"] * mel_l1
        update("generator", g_loss)
        return {"d_loss": float(d_loss.detach()), "g_loss": float(g_loss.detach()), "adv": float(adv.detach()),
                "fm": float(fmatch.detach()), "mel": float(mel_l1.detach())}

    def _synthesise(self, mel):
        return self.generator(mel)[:, 0]

    def export(self):
        return self.generator, self.model_cfg

    def close(self):
        pass


class PeriodWaveTask(_Validator):
    """PeriodWave training: the CFM loss under one optimizer named ``generator``.

    Args:
        model: ``{"name": "periodwave", **PeriodWave kwargs}``.
        energy_stats: ``(min, max)`` of the training corpus' frame energy
            (:func:`audiokit.vocoder.data.energy_stats`); ``None`` keeps the model's values.
        valid_steps, valid_method: ODE solver used for validation (``None``: the model's
            16 midpoint steps); fewer steps keep validation cheap during training.
        valid_metrics: :func:`score_pair` metrics for validation.
    """

    def __init__(self, model: dict, energy_stats: tuple[float, float] | None = None,
                 valid_steps: int | None = None, valid_method: str | None = None,
                 valid_metrics=("pesq_wb",)):
        self.generator = build_model(dict(model))
        if not isinstance(self.generator, PeriodWave):
            raise ValueError(f"PeriodWaveTask: model must be a periodwave, got {dict(model).get('name')!r}")
        if energy_stats is not None:
            self.generator.set_energy_stats(*energy_stats)
        self.mel = self.generator.mel
        self.sample_rate = self.generator.sample_rate
        self.valid_steps, self.valid_method = valid_steps, valid_method
        self.valid_metrics = tuple(valid_metrics)
        self.device = torch.device("cpu")

    def modules(self):
        return {"generator": self.generator}

    def to(self, device):
        self.device = torch.device(device)
        self.generator.to(self.device)
        return self

    def train_step(self, batch, update):
        wav, mel = trim_to_frames(batch["wav"].to(self.device).float(), self.mel)
        lengths = batch.get("lengths")
        if lengths is not None:
            lengths = lengths.to(self.device).clamp_max(wav.shape[-1])
        loss = self.generator.loss(wav, mel, lengths)
        update("generator", loss)
        return {"cfm": float(loss.detach())}

    def _synthesise(self, mel):
        return self.generator.generate(mel, steps=self.valid_steps, method=self.valid_method)

    def export(self):
        return self.generator, {"name": "periodwave", **self.generator.init_kwargs()}

    def close(self):
        pass
