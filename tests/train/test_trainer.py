"""Trainer: exact resume after a kill, NaN/Inf guard, checkpoint/export layout."""

import math

import pytest
import torch
from torch import nn

from audiokit.train.optim import lr_multiplier
from audiokit.train.trainer import Trainer, seed_everything

from _two_ranks import Data, Task, collate  # (sibling helper: the task and data of the torchrun test)


class RegressionTask(Task):
    """Least squares with dropout, so RNG state matters for exact resume."""

    def __init__(self, poison_steps=()):
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.2), nn.Linear(16, 1))
        self.poison_steps, self.calls = set(poison_steps), 0

    def train_step(self, batch, update):
        x, y = batch
        loss = ((self.net(x).squeeze(-1) - y) ** 2).mean()
        if self.calls in self.poison_steps:
            loss = loss * float("nan")
        self.calls += 1
        update("net", loss)
        return {"loss": float(loss.detach())}

    def validate(self, loader):
        err = [float(((self.net(x).squeeze(-1) - y) ** 2).mean()) for x, y in loader]
        return {"neg_mse": -sum(err) / len(err)}


OPTIM = {"net": {"name": "adam", "lr": 1e-2, "schedule": {"name": "exponential", "gamma": 0.9, "every": 5}}}


def make(tmp, max_steps, poison=()):
    seed_everything(0)
    cfg = dict(max_steps=max_steps, batch_size=8, num_workers=0, log_every=2, valid_every=100, save_every=3,
               device="cpu", best_metric="neg_mse", grad_clip=1.0)
    return Trainer(RegressionTask(poison), Data(), collate, cfg, OPTIM, tmp, {"model": {"name": "x"}},
                   valid_set=Data(8), valid_collate=collate)


@pytest.fixture(autouse=True)
def _fake_registry(monkeypatch):
    # export() returns a plain nn.Sequential; write its weights without the model registry.
    import audiokit.train.trainer as tr

    def fake_save(model, directory, config):
        from safetensors.torch import save_file

        directory.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(directory / "model.safetensors"))
        (directory / "config.yaml").write_text("model: {name: test_regression}\n")

    monkeypatch.setattr(tr, "save_model", fake_save)


def test_exact_resume(tmp_path):
    straight = make(tmp_path / "a", 13)
    straight.fit()
    # 13 steps at batch 8 over 40 items cross two epoch boundaries (5 batches/epoch).
    first = make(tmp_path / "b", 7)
    first.fit()
    resumed = make(tmp_path / "b", 13)
    resumed.fit(resume=True)
    assert resumed.step == 13 and resumed.epoch == 2
    for (k, a), (_, b) in zip(straight.task.net.state_dict().items(), resumed.task.net.state_dict().items()):
        assert torch.equal(a, b), k
    lr_a = straight.optimizers["net"].param_groups[0]["lr"]
    lr_b = resumed.optimizers["net"].param_groups[0]["lr"]
    assert lr_a == lr_b == pytest.approx(1e-2 * 0.9 ** (13 // 5))


def test_layout(tmp_path):
    make(tmp_path, 6).fit()
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "last" / "model.safetensors").is_file()
    assert (tmp_path / "checkpoints" / "LATEST").read_text().strip() == "step_6"
    assert not (tmp_path / "checkpoints" / "step_3").exists() or (tmp_path / "checkpoints" / "step_6").exists()
    assert "valid neg_mse" in (tmp_path / "train.log").read_text()


def test_nan_guard_skips_and_reports(tmp_path):
    t = make(tmp_path, 6, poison=(1, 2))
    t.fit()
    assert t.skipped_total == 2
    log = (tmp_path / "train.log").read_text()
    assert "skipped update of net: loss is NaN/Inf" in log
    assert all(torch.isfinite(p).all() for p in t.task.net.parameters())


def test_nan_guard_gives_up(tmp_path):
    t = make(tmp_path, 10, poison=range(100))
    t.cfg["max_bad_steps"] = 3
    with pytest.raises(FloatingPointError, match="consecutive non-finite"):
        t.fit()


def test_schedules():
    noam = lr_multiplier({"name": "noam", "warmup": 100})
    assert noam(99) == pytest.approx(1.0)
    assert noam(399) == pytest.approx(0.5)  # (400)^-0.5 * 100^0.5
    cos = lr_multiplier({"name": "cosine", "total": 10, "final": 0.1})
    assert cos(0) == pytest.approx(1.0) and cos(10) == pytest.approx(0.1)
    assert lr_multiplier({"name": "constant", "warmup": 4})(1) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown schedule"):
        lr_multiplier({"name": "bogus"})
    assert math.isclose(lr_multiplier({"name": "exponential", "gamma": 0.5, "every": 2})(5), 0.25)


def test_two_ranks_match_one_process(tmp_path):
    """torchrun with 2 CPU ranks (gloo), batch 8 each, against one process with batch 16: each rank
    takes every other item of the epoch's order and the gradients are averaged, so both runs see
    the same 16 items per step and must end with the same weights (up to summation order)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = str(Path(__file__).with_name("_two_ranks.py"))
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, script, str(tmp_path / "one"), "16"], check=True, env=env, timeout=300)
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        script, str(tmp_path / "two"), "8"], env=env, timeout=300, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    one = torch.load(tmp_path / "one.rank0.pt")
    r0, r1 = (torch.load(tmp_path / f"two.rank{i}.pt") for i in (0, 1))
    assert one.keys() == r0.keys() == r1.keys()
    for k in one:
        assert torch.equal(r0[k], r1[k]), k            # the ranks stay in step
        assert torch.allclose(r0[k], one[k], rtol=1e-5, atol=1e-6), (k, (r0[k] - one[k]).abs().max())
    init = torch.load(tmp_path / "two.init.pt")
    assert max(float((r0[k] - init[k]).abs().max()) for k in init) > 1e-2   # (and they trained)
