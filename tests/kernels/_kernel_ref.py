"""Helpers shared by the kernel tests: random inputs and relative-error comparison."""
import torch


def rel_err(a, b):
    a, b = a.double(), b.double()
    # an all-zero reference (e.g. dA at L=1 without state, where fp32 leaves ~1e-7 of rounding
    # that depends on the random cotangents) is compared absolutely
    return ((a - b).norm() / b.norm().clamp_min(1e-2)).item()


def assert_close(name, a, b, tol):
    assert torch.isfinite(a).all(), f"{name}: non-finite values"
    err = rel_err(a, b)
    assert err < tol, f"{name}: relative error {err:.2e} >= {tol:.0e}"


def grads(outputs, cotangents, inputs):
    loss = sum((o.double() * c.double()).sum() for o, c in zip(outputs, cotangents) if o is not None)
    return torch.autograd.grad(loss, inputs)
