"""MetricGAN discriminator and PESQ targets for MP-SENet.

The discriminator (Fu et al., "MetricGAN", ICML 2019; in the form of CMGAN, Cao et al.,
Interspeech 2022, and MP-SENet, Lu et al., Interspeech 2023 Sec. 2.4) learns to predict the
normalised PESQ of an estimate from the pair (clean magnitude, estimated magnitude):

    [B, 2, F, T] -> 4 x (4x4 conv stride 2, spectral norm, no bias -> InstanceNorm -> PReLU),
    channels d, 2d, 4d, 8d -> global max pool -> Linear(8d, 4d) (spectral norm)
    -> Dropout 0.3 -> PReLU -> Linear(4d, 1) (spectral norm) -> learnable sigmoid  -> [B, 1]

with d = 16 as in the public MP-SENet code. Its targets are PESQ scores mapped to [0, 1] by
``(PESQ - 1) / 3.5``; PESQ (ITU-T P.862.2 wide-band at 16 kHz, P.862 narrow-band at 8 kHz,
through the ``pesq`` package) runs on the CPU, so :class:`PesqPool` computes a batch in worker
processes while the GPU goes on.
"""

from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from audiokit.enh.mpsenet import LearnableSigmoid
from audiokit.workers import exit_with_parent

__all__ = ["MetricDiscriminator", "pesq_one", "batch_pesq", "PesqPool"]


class MetricDiscriminator(nn.Module):
    """``forward(ref_mag, est_mag)``: magnitudes ``[B, F, T]`` -> predicted normalised PESQ
    ``[B, 1]`` in (0, beta). See the module docstring for the layers."""

    def __init__(self, dim: int = 16, in_channels: int = 2, beta: float = 1.0,
                 dropout: float = 0.3):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        for c_out in (dim, dim * 2, dim * 4, dim * 8):
            layers += [spectral_norm(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False)),
                       nn.InstanceNorm2d(c_out, affine=True), nn.PReLU(c_out)]
            c_in = c_out
        layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten(),
                   spectral_norm(nn.Linear(dim * 8, dim * 4)), nn.Dropout(dropout),
                   nn.PReLU(dim * 4), spectral_norm(nn.Linear(dim * 4, 1)),
                   LearnableSigmoid(1, beta)]
        self.layers = nn.Sequential(*layers)

    def forward(self, ref_mag: torch.Tensor, est_mag: torch.Tensor) -> torch.Tensor:
        if ref_mag.shape != est_mag.shape or ref_mag.dim() != 3:
            raise ValueError(f"MetricDiscriminator: inputs must both be [B, F, T], got "
                             f"{tuple(ref_mag.shape)} and {tuple(est_mag.shape)}")
        return self.layers(torch.stack((ref_mag, est_mag), dim=1))


def _mode(sample_rate: int) -> str:
    if sample_rate == 16000:
        return "wb"
    if sample_rate == 8000:
        return "nb"
    raise ValueError(f"PESQ: sample_rate must be 16000 (wide-band) or 8000 (narrow-band), got "
                     f"{sample_rate}; resample first")


def pesq_one(clean: np.ndarray, est: np.ndarray, sample_rate: int = 16000) -> float:
    """PESQ of one pair (wb at 16 kHz, nb at 8 kHz); NaN where PESQ fails (silence, too short)."""
    from pesq import pesq

    if not (np.any(clean) and np.any(est)):
        return math.nan  # all-zero input: pesq would divide by zero
    try:
        return float(pesq(sample_rate, np.asarray(clean, dtype=np.float64),
                          np.asarray(est, dtype=np.float64), _mode(sample_rate)))
    except Exception:  # noqa: BLE001 -- pesq raises its own error types and ValueError/RuntimeError
        return math.nan


def _pairs(clean: torch.Tensor, est: torch.Tensor, lengths):
    if clean.shape != est.shape or clean.dim() != 2:
        raise ValueError(f"PESQ: clean and est must both be [B, T], got {tuple(clean.shape)} "
                         f"and {tuple(est.shape)}")
    c = clean.detach().float().cpu().numpy()
    e = est.detach().float().cpu().numpy()
    if lengths is None:
        lengths = [c.shape[1]] * c.shape[0]
    lengths = [int(n) for n in (lengths.tolist() if torch.is_tensor(lengths) else lengths)]
    if len(lengths) != c.shape[0]:
        raise ValueError(f"PESQ: {len(lengths)} lengths for a batch of {c.shape[0]}")
    return [(c[i, :n], e[i, :n]) for i, n in enumerate(lengths)]


def _to_tensor(scores, normalize: bool) -> torch.Tensor:
    out = torch.tensor(scores, dtype=torch.float32)
    return (out - 1.0) / 3.5 if normalize else out


def batch_pesq(clean: torch.Tensor, est: torch.Tensor, sample_rate: int = 16000,
               lengths=None, normalize: bool = True) -> torch.Tensor:
    """PESQ for ``[B, T]`` pairs in this process: ``[B]``, normalised by default, NaN where
    PESQ failed. ``lengths`` trims each row to its true length."""
    _mode(sample_rate)
    return _to_tensor([pesq_one(c, e, sample_rate) for c, e in _pairs(clean, est, lengths)],
                      normalize)


class _BatchFuture:
    """The pending PESQ of one batch; ``result()`` gives the ``[B]`` tensor."""

    def __init__(self, futures: list[Future], normalize: bool):
        self._futures, self._normalize = futures, normalize

    def done(self) -> bool:
        return all(f.done() for f in self._futures)

    def result(self, timeout: float | None = None) -> torch.Tensor:
        return _to_tensor([f.result(timeout) for f in self._futures], self._normalize)


class PesqPool:
    """PESQ of batches in worker processes, so the training loop does not wait on the CPU.

    ``pool(clean, est, lengths=None)`` returns the ``[B]`` tensor of normalised PESQ (NaN
    where PESQ failed); ``pool.submit(...)`` returns at once with an object whose
    ``result()`` gives that tensor later, so the generator step can run meanwhile. Workers
    are started with ``spawn`` (safe after CUDA is initialised). Use as a context manager or
    call :meth:`close`.
    """

    def __init__(self, sample_rate: int = 16000, workers: int = 4, normalize: bool = True,
                 mp_context: str = "spawn"):
        _mode(sample_rate)
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"PesqPool: workers must be a positive int, got {workers!r}")
        self.sample_rate, self.normalize = sample_rate, normalize
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(mp_context),
                                         initializer=exit_with_parent)

    def submit(self, clean: torch.Tensor, est: torch.Tensor, lengths=None) -> _BatchFuture:
        if self._pool is None:
            raise RuntimeError("PesqPool: used after close()")
        futures = [self._pool.submit(pesq_one, c, e, self.sample_rate)
                   for c, e in _pairs(clean, est, lengths)]
        return _BatchFuture(futures, self.normalize)

    def __call__(self, clean: torch.Tensor, est: torch.Tensor, lengths=None) -> torch.Tensor:
        return self.submit(clean, est, lengths).result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "PesqPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 -- interpreter shutdown
            pass
