"""Quadratic reference of WERSA attention: explicit N x N kernel matrix, level-by-level Haar loop."""
from __future__ import annotations

import math

import torch

from .._utils import acc_dtype
from .ops import random_features


def naive_haar_filter(x, weights, levels):
    """Weighted Haar analysis/synthesis along dim 2, written as the textbook recursion."""
    N = x.shape[2]
    size = 1 << levels
    n_pad = -(-N // size) * size
    approx = torch.cat([x, x.new_zeros(*x.shape[:2], n_pad - N, x.shape[3])], 2)
    details = []
    r = 1 / math.sqrt(2)
    for _ in range(levels):
        even, odd = approx[:, :, 0::2], approx[:, :, 1::2]
        details.append((even - odd) * r)
        approx = (even + odd) * r
    w = weights if weights.dim() == 3 else weights[None]
    y = approx * w[:, :, levels, None, None]
    for j in range(levels - 1, -1, -1):
        d = details[j] * w[:, :, j, None, None]
        out = y.new_empty(*y.shape[:2], 2 * y.shape[2], y.shape[3])
        out[:, :, 0::2] = (y + d) * r
        out[:, :, 1::2] = (y - d) * r
        y = out
    return y[:, :, :N]


def naive_wersa(q, k, v, level_weights, omega, bandwidth, *, levels):
    dt = acc_dtype(q.dtype)
    q, k, v = q.to(dt), k.to(dt), v.to(dt)
    qf = random_features(naive_haar_filter(q, level_weights.to(dt), levels), omega.to(dt), bandwidth.to(dt), True)
    kf = random_features(naive_haar_filter(k, level_weights.to(dt), levels), omega.to(dt), bandwidth.to(dt), False)
    a = qf @ kf.transpose(-1, -2)
    return (a @ v) / (a.sum(-1, keepdim=True) + 1e-6)
