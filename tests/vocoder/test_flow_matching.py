"""OT-CFM path/target against hand computation; ODE solvers against a closed-form solution."""

import math

import pytest
import torch

from audiokit.vocoder import flow_matching as fm


def test_ot_path_and_target_by_hand():
    x0 = torch.tensor([[1.0, -2.0], [0.5, 3.0]])
    x1 = torch.tensor([[4.0, 0.0], [-1.0, 2.0]])
    t = torch.tensor([0.25, 0.75])
    s = 1e-4
    # x_t = (1 - (1 - s) t) x0 + t x1, per item
    want = torch.tensor([[(1 - 0.9999 * 0.25) * 1.0 + 0.25 * 4.0, (1 - 0.9999 * 0.25) * -2.0],
                         [(1 - 0.9999 * 0.75) * 0.5 + 0.75 * -1.0, (1 - 0.9999 * 0.75) * 3.0 + 0.75 * 2.0]])
    torch.testing.assert_close(fm.ot_path(x0, x1, t, s), want)
    torch.testing.assert_close(fm.ot_target(x0, x1, s), x1 - 0.9999 * x0)
    # Ends of the path: x0 at t = 0, x1 + sigma_min * x0 at t = 1.
    torch.testing.assert_close(fm.ot_path(x0, x1, torch.tensor(0.0), s), x0)
    torch.testing.assert_close(fm.ot_path(x0, x1, torch.tensor(1.0), s), x1 + s * x0)


def test_target_is_the_time_derivative_of_the_path():
    g = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)
    t, h = torch.full((3,), 0.3), 1e-3
    fd = (fm.ot_path(x0.double(), x1.double(), t.double() + h) -
          fm.ot_path(x0.double(), x1.double(), t.double() - h)) / (2 * h)
    torch.testing.assert_close(fd, fm.ot_target(x0, x1).double())


# dx/dt = a x + b t (linear, time-dependent): x(t) = (x0 + b/a^2) e^{a t} - b t / a - b / a^2
A, B = -1.5, 2.0


def _exact(x0, t):
    return (x0 + B / A ** 2) * math.exp(A * t) - B * t / A - B / A ** 2


def _f(x, t):
    return A * x + B * t


@pytest.mark.parametrize("method,order", [("euler", 1), ("midpoint", 2)])
def test_solver_convergence_order(method, order):
    x0 = torch.tensor([1.0, -0.5], dtype=torch.float64)
    want = _exact(x0, 1.0)
    errs = [float((fm.solve(_f, x0, n, method) - want).abs().max()) for n in (8, 16, 32, 64)]
    assert all(e2 < e1 for e1, e2 in zip(errs, errs[1:]))
    rates = [math.log2(e1 / e2) for e1, e2 in zip(errs, errs[1:])]
    assert all(abs(r - order) < 0.15 for r in rates), rates


def test_solver_counts_evaluations_and_times():
    seen = []

    def f(x, t):
        seen.append(float(t))
        return torch.zeros_like(x)

    fm.euler(f, torch.zeros(1), 4)
    assert seen == [0.0, 0.25, 0.5, 0.75]
    seen.clear()
    fm.midpoint(f, torch.zeros(1), 2)
    assert seen == [0.0, 0.25, 0.5, 0.75]
    # eval_times: the same times in the same order, for samplers that precompute per-t work
    assert fm.eval_times(2, "midpoint").tolist() == seen
    assert fm.eval_times(4, "euler", 0.0, 1.0, dtype=torch.float64).tolist() == [0.0, 0.25, 0.5, 0.75]
    assert fm.eval_times(3, "euler").tolist() == [float(torch.tensor(i / 3)) for i in range(3)]


def test_solver_is_differentiable():
    w = torch.tensor(0.7, requires_grad=True)
    x = fm.solve(lambda x, t: w * x, torch.ones(1), 4, "euler")
    x.sum().backward()
    # (1 + w/4)^4 -> d/dw = (1 + w/4)^3
    assert abs(float(w.grad) - (1 + 0.7 / 4) ** 3) < 1e-6


def test_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        fm.solve(_f, torch.zeros(1), 2, "rk45")
    with pytest.raises(ValueError, match="steps"):
        fm.euler(_f, torch.zeros(1), 0)
