"""Multi-level Haar discrete wavelet transform and its inverse, batched and differentiable.

One level of the orthonormal Haar DWT (Mallat, "A theory for multiresolution signal
decomposition: the wavelet representation", IEEE TPAMI 1989, Eqs. 56-57 with the Haar
filters h = [1, 1]/sqrt(2), g = [1, -1]/sqrt(2)):

    cA[k] = (x[2k] + x[2k+1]) / sqrt(2)        cD[k] = (x[2k] - x[2k+1]) / sqrt(2)

and its inverse x[2k] = (cA[k] + cD[k]) / sqrt(2), x[2k+1] = (cA[k] - cD[k]) / sqrt(2).
The transform is orthonormal, so energy is preserved and the inverse is exact.

Boundary handling matches PyWavelets' ``mode='periodization'``: each level halves the length
to ``ceil(n / 2)``; an odd-length input is first extended by repeating its last sample (what
pywt does for periodization with odd lengths). Output order matches ``pywt.wavedec``:
``[cA_L, cD_L, cD_{L-1}, ..., cD_1]``, and :func:`haar_idwt` matches ``pywt.waverec``, which
drops the extra sample at each level where the finer detail is one shorter.

Both functions act on the last axis of a tensor of any shape, use only slicing and
arithmetic, and so run on any device and support autograd.
"""

from __future__ import annotations

import math

import torch

__all__ = ["haar_dwt", "haar_idwt"]

_INV_SQRT2 = 1.0 / math.sqrt(2.0)


def _check_tensor(x, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"haar: {name} must be a torch.Tensor, got {type(x).__name__}")
    if not (x.is_floating_point() or x.is_complex()):
        raise ValueError(f"haar: {name} must be a floating tensor, got dtype {x.dtype}")
    if x.dim() == 0 or x.shape[-1] == 0:
        raise ValueError(f"haar: {name} must have a non-empty last axis, got shape "
                         f"{tuple(x.shape)}")


def haar_dwt(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Multi-level Haar DWT along the last axis.

    Args:
        x: ``[..., T]`` floating tensor, T >= 1.
        levels: number of decomposition levels L >= 1.

    Returns:
        ``[cA_L, cD_L, ..., cD_1]``; each tensor is ``[..., n_l]`` with ``n_0 = T`` and
        ``n_l = ceil(n_{l-1} / 2)``. Equal to ``pywt.wavedec(x, 'haar',
        mode='periodization', level=L)``. Levels beyond ``ceil(log2 T)`` are allowed, as in
        pywt; they keep halving a length-1 signal's edge extension.
    """
    _check_tensor(x, "x")
    if not isinstance(levels, int) or isinstance(levels, bool) or levels < 1:
        raise ValueError(f"haar_dwt: levels must be an int >= 1, got {levels!r}")
    details = []
    a = x
    for _ in range(levels):
        if a.shape[-1] % 2:
            a = torch.cat((a, a[..., -1:]), dim=-1)
        even, odd = a[..., 0::2], a[..., 1::2]
        details.append((even - odd) * _INV_SQRT2)
        a = (even + odd) * _INV_SQRT2
    return [a] + details[::-1]


def haar_idwt(coeffs, length: int | None = None) -> torch.Tensor:
    """Inverse of :func:`haar_dwt` (``pywt.waverec(coeffs, 'haar', mode='periodization')``).

    Args:
        coeffs: ``[cA_L, cD_L, ..., cD_1]`` as returned by :func:`haar_dwt`; all share the
            leading axes; cA_L and cD_L have the same length, and each finer detail is twice
            as long as the coarser one, or one sample shorter than that.
        length: the original length T (``2 * len(cD_1)`` or one less); by default
            ``2 * len(cD_1)``, which is what pywt returns.

    Returns:
        ``[..., length]`` reconstruction; exact (to rounding) when length is the input's.
    """
    if not isinstance(coeffs, (list, tuple)) or len(coeffs) < 2:
        raise ValueError("haar_idwt: coeffs must be a list [cA_L, cD_L, ..., cD_1] of at least "
                         f"2 tensors, got {type(coeffs).__name__} of length "
                         f"{len(coeffs) if isinstance(coeffs, (list, tuple)) else 'n/a'}")
    for i, c in enumerate(coeffs):
        _check_tensor(c, f"coeffs[{i}]")
        if c.shape[:-1] != coeffs[0].shape[:-1]:
            raise ValueError(f"haar_idwt: coeffs[{i}] has leading shape {tuple(c.shape[:-1])}, "
                             f"coeffs[0] has {tuple(coeffs[0].shape[:-1])}")
    a = coeffs[0]
    if coeffs[1].shape[-1] != a.shape[-1]:
        raise ValueError(f"haar_idwt: cA_L has length {a.shape[-1]} but cD_L has "
                         f"{coeffs[1].shape[-1]}; they must be equal")
    for i, d in enumerate(coeffs[1:], start=1):
        if a.shape[-1] == d.shape[-1] + 1:
            a = a[..., :-1]  # this level's input had odd length: drop its extension sample
        elif a.shape[-1] != d.shape[-1]:
            raise ValueError(f"haar_idwt: coeffs[{i}] has length {d.shape[-1]} but the "
                             f"approximation reconstructed from the coarser levels has "
                             f"{a.shape[-1]}; expected equal or one shorter")
        even = (a + d) * _INV_SQRT2
        odd = (a - d) * _INV_SQRT2
        a = torch.stack((even, odd), dim=-1).flatten(-2)
    if length is not None:
        n = a.shape[-1]
        if not isinstance(length, int) or isinstance(length, bool) or length not in (n, n - 1):
            raise ValueError(f"haar_idwt: length must be {n} or {n - 1} for these coefficients, "
                             f"got {length!r}")
        a = a[..., :length]
    return a
