"""Training task for magnitude/phase enhancers with a MetricGAN discriminator.

Follows MP-SENet's training step (Lu et al. 2023, Sec. 2.4; journal version Sec. III-E):
the input is RMS-normalised by the noisy signal, the generator predicts magnitude and
phase, the metric discriminator learns to predict the normalised PESQ of the
enhanced/clean pair (computed in worker processes), then the generator is updated with
the weighted sum of metric, magnitude, phase (IP+GD+IAF), complex, time and consistency
losses. Any registered model with MP-SENet's ``forward(mag, pha) -> (mag, pha, com)`` and
an ``stft`` front-end trains here (MambAttention reuses it).
"""

from __future__ import annotations

import math

import torch

from audiokit.enh.losses import MPSENetLoss, discriminator_loss, metric_generator_loss
from audiokit.enh.metric_discriminator import MetricDiscriminator, PesqPool
from audiokit.registry import build_model


def rms_normalise(noisy: torch.Tensor, *others: torch.Tensor, eps: float = 1e-8):
    """Scale each item to unit RMS of the noisy input (MP-SENet's ``norm_factor``); same factor for ``others``."""
    factor = torch.rsqrt(noisy.pow(2).mean(-1, keepdim=True) + eps)
    return factor, noisy * factor, *(o * factor for o in others)


class EnhancementTask:
    def __init__(self, model: dict, loss: dict | None = None, discriminator: dict | None = None,
                 pesq_workers: int = 2, valid_metrics: tuple[str, ...] = ("pesq_wb", "stoi", "si_sdr")):
        self.model_cfg = dict(model)
        self.generator = build_model(self.model_cfg)
        self.sample_rate = self.generator.sample_rate
        self.discriminator = MetricDiscriminator(**(discriminator or {}))
        self.loss = MPSENetLoss(**({"weights": dict(loss)} if loss else {}))
        self.uses_metric = self.loss.weights.get("metric", 0) > 0
        self.pesq = PesqPool(self.sample_rate, workers=pesq_workers) if self.uses_metric else None
        self.valid_metrics = tuple(valid_metrics)

    def modules(self):
        return {"generator": self.generator, "discriminator": self.discriminator}

    def to(self, device):
        self.generator.to(device)
        self.discriminator.to(device)
        self.loss.to(device)
        self.device = device
        return self

    def train_step(self, batch, update):
        _, noisy, clean = rms_normalise(batch["noisy"], batch["clean"])
        stft = self.generator.stft
        with torch.autocast(noisy.device.type, enabled=False):  # spectra and phase in fp32
            clean_mag, clean_pha, clean_com = stft(clean)
            noisy_mag, noisy_pha, _ = stft(noisy)
        mag_g, pha_g, com_g = self.generator(noisy_mag, noisy_pha)
        mag_g, pha_g, com_g = mag_g.float(), pha_g.float(), com_g.float()
        with torch.autocast(noisy.device.type, enabled=False):
            wav_g = stft.inverse(mag_g, pha_g, length=clean.shape[-1])
        logs = {}
        if self.uses_metric:
            pesq_job = self.pesq.submit(clean.detach(), wav_g.detach(), batch["lengths"])
            # The discriminator judges the re-analysed output (the reference code's mag_g_hat),
            # i.e. what a listener gets after iSTFT, not the raw decoder magnitude.
            with torch.autocast(noisy.device.type, enabled=False):
                mag_hat = stft(wav_g)[0]
            pesq_norm = pesq_job.result().to(clean.device)
            d_loss = discriminator_loss(self.discriminator, clean_mag, mag_hat.detach(), pesq_norm)
            update("discriminator", d_loss)
            metric_g = metric_generator_loss(self.discriminator, clean_mag, mag_hat)
            logs["d_loss"] = float(d_loss.detach())
            valid = pesq_norm[torch.isfinite(pesq_norm)]
            if valid.numel():
                logs["pesq_train"] = float(valid.mean()) * 3.5 + 1.0
        else:
            metric_g = None
        total, parts = self.loss.generator_loss(clean, clean_mag, clean_pha, clean_com,
                                                wav_g, mag_g, pha_g, com_g, metric_g)
        update("generator", total)
        logs["g_loss"] = float(total.detach())
        logs.update({k: float(v) for k, v in parts.items()})
        return logs

    def validate(self, loader):
        from audiokit.metrics.score import score_pair

        sums: dict[str, list[float]] = {m: [] for m in self.valid_metrics}
        for batch in loader:
            for i in range(batch["noisy"].shape[0]):
                n = int(batch["lengths"][i])
                noisy = batch["noisy"][i, :n].to(self.device)
                est = self.generator.enhance(noisy).float().cpu()
                scores = score_pair(batch["clean"][i, :n], est, self.sample_rate, list(self.valid_metrics),
                                    errors="nan")
                for k, v in scores.items():
                    if v is not None and math.isfinite(v):
                        sums[k].append(v)
        return {k: sum(v) / len(v) for k, v in sums.items() if v}

    def export(self):
        return self.generator, self.model_cfg

    def close(self):
        if self.pesq is not None:
            self.pesq.close()
