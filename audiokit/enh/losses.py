"""MP-SENet training losses.

Lu, Ai & Ling, "MP-SENet: A Speech Enhancement Model with Parallel Denoising of Magnitude and
Phase Spectra", Interspeech 2023, Sec. 2.4 ("Training criteria"), and the extended version
arXiv:2308.08926, Sec. 3.4, which adds the STFT consistency loss. Symbols follow the papers
(X: clean, X-hat: estimate; ``_m^c`` compressed magnitude, ``_p`` wrapped phase, ``_c``
compressed complex spectrum, ``x`` waveform):

* magnitude  L_Mag  = E ||X_m^c - X-hat_m^c||_2^2                         (MSE)
* phase      f_AW(t) = |t - 2 pi round(t / 2 pi)|       (anti-wrapping function)
             L_IP   = E f_AW(X_p - X-hat_p)                (instantaneous phase)
             L_GD   = E f_AW(Delta_F X_p - Delta_F X-hat_p)  (group delay: differences
                      along frequency)
             L_IAF  = E f_AW(Delta_T X_p - Delta_T X-hat_p)  (instantaneous angular
                      frequency: differences along time)
             L_Pha  = L_IP + L_GD + L_IAF
* complex    L_Com  = E ||X_c - X-hat_c||_2^2, summed over real and imaginary parts
* consistency L_Con = E ||X-hat_c - STFT(iSTFT(X-hat_c))||_2^2        (journal version)
* time       L_Time = E |x - x-hat|                                      (L1)
* metric     L_Metric = E (D(X_m, X-hat_m) - 1)^2               (MetricGAN generator term)
* total      L_G = l_Metric L_Metric + l_Mag L_Mag + l_Pha L_Pha + l_Com L_Com
                   + l_Time L_Time + l_Con L_Con
* discriminator L_D = E (D(X_m, X_m) - 1)^2 + E (D(X_m, X-hat_m) - Q'_PESQ)^2, with
  Q'_PESQ = (PESQ - 1) / 3.5 in [0, 1] (MetricGAN, Fu et al., ICML 2019).

Default weights (``DEFAULT_WEIGHTS``): metric 0.05, magnitude 0.9, phase 0.3, complex 0.1,
time 0.2, consistency 0.1. Source: the Interspeech paper's lambdas (0.05 / 0.9 / 0.3 / 0.1 /
0.2) and the public training script of yxlu-0102/MP-SENet (train.py:
``loss_mag*0.9 + loss_pha*0.3 + loss_com*0.1 + loss_stft*0.1 + loss_metric*0.05 +
loss_time*0.2``), which adds consistency at 0.1. MambAttention (arXiv:2507.00966) trains with
complex 0.2 and consistency 0.2; pass ``weights`` to change any of them.

As in the public code, the metric terms score the magnitude of the *re-analysed* estimate,
``STFT(x-hat)``, which is what a listener hears, rather than the decoder output.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from audiokit.frontend.stft import mag_pha_stft

__all__ = ["DEFAULT_WEIGHTS", "anti_wrapping", "phase_losses", "complex_loss",
           "consistency_loss", "discriminator_loss", "metric_generator_loss", "normalize_pesq",
           "MPSENetLoss"]

DEFAULT_WEIGHTS: dict[str, float] = {
    "metric": 0.05, "magnitude": 0.9, "phase": 0.3, "complex": 0.1, "time": 0.2,
    "consistency": 0.1,
}

_TWO_PI = 2.0 * math.pi


def anti_wrapping(x: torch.Tensor) -> torch.Tensor:
    """f_AW(t) = |t - 2 pi round(t / 2 pi)|: distance of ``t`` to the nearest multiple of
    2 pi, in [0, pi]. Even, 2 pi-periodic and increasing on [0, pi] (the three properties the
    NSPP/MP-SENet papers require of an anti-wrapping function)."""
    return (x - _TWO_PI * torch.round(x / _TWO_PI)).abs()


def phase_losses(pha_ref: torch.Tensor, pha_est: torch.Tensor):
    """Anti-wrapping phase losses ``(L_IP, L_GD, L_IAF)`` for phases ``[B, F, T]``.

    GD compares differences along frequency (axis -2), IAF along time (axis -1); each is
    the mean of f_AW over all elements. Computed in float32.
    """
    if pha_ref.shape != pha_est.shape or pha_ref.dim() < 2:
        raise ValueError(f"phase_losses: pha_ref {tuple(pha_ref.shape)} and pha_est "
                         f"{tuple(pha_est.shape)} must have the same [..., F, T] shape")
    ref, est = pha_ref.float(), pha_est.float()
    ip = anti_wrapping(ref - est).mean()
    gd = anti_wrapping(torch.diff(ref, dim=-2) - torch.diff(est, dim=-2)).mean()
    iaf = anti_wrapping(torch.diff(ref, dim=-1) - torch.diff(est, dim=-1)).mean()
    return ip, gd, iaf


def complex_loss(com_ref: torch.Tensor, com_est: torch.Tensor) -> torch.Tensor:
    """Mean over TF bins of the squared error summed over (re, im), for ``[..., 2]`` input
    (= 2 x element-wise MSE, the public code's ``mse_loss(...) * 2``)."""
    if com_ref.shape != com_est.shape or com_ref.shape[-1] != 2:
        raise ValueError(f"complex_loss: inputs must share a [..., 2] shape, got "
                         f"{tuple(com_ref.shape)} and {tuple(com_est.shape)}")
    return 2.0 * F.mse_loss(com_est.float(), com_ref.float())


def consistency_loss(est_com: torch.Tensor, est_wav: torch.Tensor, n_fft: int = 400,
                     hop_length: int = 100, win_length: int = 400,
                     compress_factor: float = 0.3) -> torch.Tensor:
    """L_Con: distance between the estimated compressed complex spectrum and the one of its
    own waveform, ``STFT(est_wav)`` with ``est_wav = iSTFT(est_com)``. Zero iff the estimate
    is a consistent STFT (the spectrum of some real signal)."""
    _, _, com_hat = mag_pha_stft(est_wav, n_fft, hop_length, win_length, compress_factor)
    return complex_loss(com_hat, est_com)


def normalize_pesq(pesq: torch.Tensor | float) -> torch.Tensor | float:
    """Q'_PESQ = (PESQ - 1) / 3.5, MetricGAN's map of PESQ onto about [0, 1]."""
    return (pesq - 1.0) / 3.5


def _flat_scores(disc: nn.Module, ref_mag: torch.Tensor, mag: torch.Tensor) -> torch.Tensor:
    return disc(ref_mag, mag).flatten().float()


def discriminator_loss(disc: nn.Module, clean_mag: torch.Tensor, est_mag: torch.Tensor,
                       pesq_norm: torch.Tensor | None) -> torch.Tensor:
    """MetricGAN discriminator loss L_D.

    ``MSE(D(clean, clean), 1) + MSE(D(clean, est.detach()), pesq_norm)``. ``pesq_norm`` is
    ``[B]`` normalised PESQ (NaN where PESQ failed, e.g. silence); failed items are left
    out of the second term, and when all failed (or ``pesq_norm`` is None) only the first
    term remains. (The public code drops the second term if any item failed.)
    """
    real = _flat_scores(disc, clean_mag, clean_mag)
    loss = F.mse_loss(real, torch.ones_like(real))
    if pesq_norm is None:
        return loss
    target = torch.as_tensor(pesq_norm, dtype=torch.float32, device=real.device).flatten()
    if target.numel() != real.numel():
        raise ValueError(f"discriminator_loss: pesq_norm has {target.numel()} values for a "
                         f"batch of {real.numel()}")
    ok = torch.isfinite(target)
    if not bool(ok.any()):
        return loss
    if not bool(ok.all()):
        clean_mag, est_mag, target = clean_mag[ok], est_mag[ok], target[ok]
    fake = _flat_scores(disc, clean_mag, est_mag.detach())
    return loss + F.mse_loss(fake, target)


def metric_generator_loss(disc: nn.Module, clean_mag: torch.Tensor,
                          est_mag: torch.Tensor) -> torch.Tensor:
    """L_Metric = MSE(D(clean, est), 1): the generator asks for the best PESQ."""
    score = _flat_scores(disc, clean_mag, est_mag)
    return F.mse_loss(score, torch.ones_like(score))


class MPSENetLoss(nn.Module):
    """Weighted MP-SENet generator loss; see the module docstring for the terms.

    Args:
        weights: overrides of ``DEFAULT_WEIGHTS`` (keys: metric, magnitude, phase, complex,
            time, consistency). Consistency and metric terms with weight 0 are not computed
            (no re-analysis STFT, no discriminator pass).
        n_fft, hop_length, win_length, compress_factor: the model's STFT settings, used to
            re-analyse the estimated waveform (consistency and metric terms).
    """

    def __init__(self, weights: dict | None = None, n_fft: int = 400, hop_length: int = 100,
                 win_length: int = 400, compress_factor: float = 0.3):
        super().__init__()
        weights = dict(weights or {})
        unknown = set(weights) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise ValueError(f"MPSENetLoss: unknown weight(s) {sorted(unknown)}; expected "
                             f"{sorted(DEFAULT_WEIGHTS)}")
        self.weights = {k: float(weights.get(k, v)) for k, v in DEFAULT_WEIGHTS.items()}
        for k, v in self.weights.items():
            if not (v >= 0 and math.isfinite(v)):
                raise ValueError(f"MPSENetLoss: weight {k!r} must be finite and >= 0, got {v}")
        self.stft_args = (n_fft, hop_length, win_length, compress_factor)

    def restft(self, wav: torch.Tensor):
        """``(mag, pha, com)`` of a waveform with the loss's STFT settings (float32)."""
        return mag_pha_stft(wav.float(), *self.stft_args)

    def generator_loss(self, clean_wav, clean_mag, clean_pha, clean_com, est_wav, est_mag,
                       est_pha, est_com, metric_g: torch.Tensor | None = None,
                       disc: nn.Module | None = None):
        """Total generator loss and its parts.

        Spectra are ``[B, F, T]`` (``com``: ``[B, F, T, 2]``) as :mod:`audiokit.frontend.stft`
        gives them; waveforms ``[B, L]``; ``est_*`` is the model output and ``est_wav`` its
        iSTFT. The metric term comes from ``metric_g`` if given: a 0-dim tensor is taken as
        L_Metric itself (e.g. from :func:`metric_generator_loss`), a ``[B]`` or ``[B, 1]``
        tensor as the discriminator's scores for the estimate (L_Metric = MSE(scores, 1)).
        Otherwise ``disc``, if given, is evaluated on ``(clean_mag, |STFT(est_wav)|^c)``, as
        the public code does; with neither the term is left out.

        Returns ``(total, parts)``; ``parts`` maps term names (and ``ip``, ``gd``, ``iaf``)
        to detached scalars.
        """
        if clean_wav.shape != est_wav.shape:
            raise ValueError(f"MPSENetLoss: clean_wav {tuple(clean_wav.shape)} and est_wav "
                             f"{tuple(est_wav.shape)} differ")
        w = self.weights
        parts: dict[str, torch.Tensor] = {}
        parts["magnitude"] = F.mse_loss(est_mag.float(), clean_mag.float())
        ip, gd, iaf = phase_losses(clean_pha, est_pha)
        parts["phase"] = ip + gd + iaf
        parts["complex"] = complex_loss(clean_com, est_com)
        parts["time"] = F.l1_loss(est_wav.float(), clean_wav.float())
        use_disc = w["metric"] > 0 and metric_g is None and disc is not None
        need_restft = w["consistency"] > 0 or use_disc
        if need_restft:
            mag_hat, _, com_hat = self.restft(est_wav)
            if w["consistency"] > 0:
                parts["consistency"] = complex_loss(com_hat, est_com)
        if metric_g is not None and w["metric"] > 0:
            if metric_g.dim() == 0:
                parts["metric"] = metric_g.float()
            else:
                score = metric_g.flatten().float()
                parts["metric"] = F.mse_loss(score, torch.ones_like(score))
        elif use_disc:
            parts["metric"] = metric_generator_loss(disc, clean_mag, mag_hat)
        total = sum(w[k] * v for k, v in parts.items())
        out = {k: v.detach() for k, v in parts.items()}
        out.update(ip=ip.detach(), gd=gd.detach(), iaf=iaf.detach())
        return total, out

    forward = generator_loss

    discriminator_loss = staticmethod(discriminator_loss)
    metric_generator_loss = staticmethod(metric_generator_loss)
