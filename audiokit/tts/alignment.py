"""Alignment pieces of a FastSpeech model trained without a teacher.

Glow-TTS (Kim et al. 2020) learns durations by monotonic alignment search (MAS) between a
per-token Gaussian prior N(mu_i, I) and the target mel; Matcha-TTS (Mehta et al. 2024) keeps
that prior and its loss beside a separate decoder. This module holds the maths around MAS:

* :func:`prior_log_likelihood`: log N(y_j; mu_i, I) for every (token i, frame j) pair, the
  value MAS maximises (Glow-TTS Eq. 3 with unit variance, Matcha-TTS Sec. 3.1).
* :func:`maximum_path`: the hard monotonic path (the search itself lives in
  ``audiokit.kernels.mas``; imported lazily so the model imports without it).
* :func:`durations_from_path`: d_i = sum_j A_ij (Glow-TTS Eq. 6).
* :func:`prior_loss`: negative log-likelihood of the mel under the aligned prior, per
  element (Matcha-TTS's "prior loss").
* :func:`duration_loss`: MSE on log durations (FastSpeech Sec. 3.3; Glow-TTS Eq. 6).
* :func:`length_regulate`: FastSpeech's length regulator LR(H, D, alpha) (Ren et al. 2019,
  Sec. 3.2, Eq. 1) with the speed factor alpha applied to the durations.
"""
from __future__ import annotations

import math

import torch

__all__ = ["prior_log_likelihood", "maximum_path", "durations_from_path", "prior_loss",
           "duration_loss", "length_regulate", "round_durations", "sequence_mask"]

_LOG_2PI = math.log(2 * math.pi)


def sequence_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """lengths [B] -> bool mask [B, max_len], True on valid positions."""
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def prior_log_likelihood(mu: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
    """log N(mel[:, :, j]; mu[:, :, i], I) for all pairs.

    Args:
        mu: [B, n_mels, T_text] prior means.
        mel: [B, n_mels, T_mel] target.
    Returns:
        [B, T_text, T_mel]; padded entries are meaningless (MAS ignores them via lengths).
    """
    if mu.dim() != 3 or mel.dim() != 3 or mu.shape[:2] != mel.shape[:2]:
        raise ValueError(f"prior_log_likelihood: expected mu [B, n_mels, T_text] and mel [B, n_mels, T_mel] "
                         f"with the same B and n_mels, got {tuple(mu.shape)} and {tuple(mel.shape)}")
    D = mu.shape[1]
    # -0.5 ||y - mu||^2 expanded as -0.5 (y.y - 2 mu.y + mu.mu): one matmul instead of [B, Tt, Tm, D].
    cross = torch.einsum("bdi,bdj->bij", mu, mel)
    return (cross - 0.5 * (mu * mu).sum(1)[:, :, None] - 0.5 * (mel * mel).sum(1)[:, None, :]
            - 0.5 * D * _LOG_2PI)


def maximum_path(value: torch.Tensor, text_lengths: torch.Tensor, mel_lengths: torch.Tensor) -> torch.Tensor:
    """Hard monotonic alignment [B, T_text, T_mel] (0/1) maximising the summed value (Glow-TTS Alg. 1)."""
    from audiokit.kernels.mas import monotonic_alignment_search  # lazy: written beside this model

    return monotonic_alignment_search(value, text_lengths, mel_lengths)


def durations_from_path(path: torch.Tensor) -> torch.Tensor:
    """path [B, T_text, T_mel] (0/1) -> frames per token [B, T_text] (long)."""
    return path.sum(-1).round().long()


def prior_loss(mu_aligned: torch.Tensor, mel: torch.Tensor, mel_lengths: torch.Tensor) -> torch.Tensor:
    """Mean over valid elements of -log N(y; mu_aligned, I).

    mu_aligned and mel are [B, n_mels, T_mel]; frames at or past mel_lengths are ignored.
    """
    mask = sequence_mask(mel_lengths, mel.shape[-1]).to(mel.dtype)[:, None, :]
    nll = 0.5 * ((mel - mu_aligned) ** 2 + _LOG_2PI)
    return (nll * mask).sum() / (mask.sum() * mel.shape[1])


def duration_loss(log_dur_pred: torch.Tensor, durations: torch.Tensor, text_lengths: torch.Tensor) -> torch.Tensor:
    """MSE between predicted log durations and log of the target durations, over valid tokens.

    Targets are log(d) as Glow-TTS (MAS gives every token at least one frame, so d >= 1 on valid
    tokens; the clamp only guards padding).
    """
    mask = sequence_mask(text_lengths, durations.shape[-1]).to(log_dur_pred.dtype)
    target = torch.log(durations.to(log_dur_pred.dtype).clamp_min(1e-8))
    return (((log_dur_pred - target) ** 2) * mask).sum() / mask.sum()


def round_durations(durations: torch.Tensor, speed: float = 1.0) -> torch.Tensor:
    """Frames per token after the speed factor: floor(d / speed + 0.5) (half rounds up), long.

    speed > 1 speaks faster (fewer frames), as FastSpeech's alpha < 1 (alpha = 1 / speed).
    """
    if not speed > 0:
        raise ValueError(f"speed: expected a positive number, got {speed!r}")
    return torch.floor(durations.to(torch.float64) / speed + 0.5).clamp_min(0).long()


def length_regulate(h: torch.Tensor, durations: torch.Tensor, speed: float = 1.0,
                    max_len: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Repeat token i of h durations[i] times (FastSpeech Eq. 1).

    Args:
        h: [B, T_text, C] token states (padding tokens must have duration 0).
        durations: [B, T_text] frames per token (int or float); divided by ``speed`` and rounded
            by :func:`round_durations` unless speed == 1 and already integral.
        speed: speaking-rate factor (> 1 faster).
        max_len: pad the output to this many frames (default: the longest utterance).
    Returns:
        (out [B, T_mel, C] zero past each length, mel_lengths [B] long).
    """
    if h.dim() != 3 or durations.shape != h.shape[:2]:
        raise ValueError(f"length_regulate: expected h [B, T_text, C] and durations [B, T_text], "
                         f"got {tuple(h.shape)} and {tuple(durations.shape)}")
    d = round_durations(durations, speed) if (speed != 1.0 or durations.is_floating_point()) else durations.long()
    if (d < 0).any():
        raise ValueError("length_regulate: durations must be non-negative")
    ends = d.cumsum(-1)                                   # [B, T_text]
    lengths = ends[:, -1]
    T = int(lengths.max()) if max_len is None else max_len
    T = max(T, 1)
    frames = torch.arange(T, device=h.device).expand(h.shape[0], T).contiguous()
    # Token of frame t: the first i with ends[i] > t.
    idx = torch.searchsorted(ends.contiguous(), frames, right=True).clamp_max(h.shape[1] - 1)
    out = torch.gather(h, 1, idx[..., None].expand(-1, -1, h.shape[-1]))
    out = out * (frames < lengths[:, None])[..., None].to(h.dtype)
    return out, lengths
