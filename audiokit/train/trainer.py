"""The one training loop every task uses.

Per step, in order (nanoGPT-style): set the learning rates, draw a batch, run the task's
step under autocast (the task calls ``update`` for each optimizer: backward, gradient
all-reduce across ranks, clip, NaN/Inf guard, optimizer step), step the schedules, log;
every ``valid_every`` steps validate with real metrics and write the best/last models;
every ``save_every`` steps write a resumable checkpoint.

Resume is exact: the data order is a pure function of (seed, epoch), the position inside
an epoch is saved, and so are all RNG, optimizer, schedule and scaler states.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from tqdm import tqdm

from audiokit.registry import save_model
from audiokit.train import checkpoint as ckpt_io
from audiokit.train.distributed import DistInfo, barrier, broadcast_flag, init_distributed
from audiokit.train.optim import build_optimizer, build_scheduler

log = logging.getLogger("audiokit.train")

DEFAULTS = dict(
    max_steps=1000, max_minutes=None, batch_size=8, num_workers=2, log_every=50,
    valid_every=500, save_every=500, keep_checkpoints=2, precision="auto", grad_clip=None,
    seed=1234, device="auto", best_metric=None, best_mode="max", max_bad_steps=50,
)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:
        pass


def pick_device(name: str, info: DistInfo) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{info.local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    return torch.device(name)


class Trainer:
    """Train ``task`` on ``train_set`` (a map-style dataset) with ``cfg`` (see ``DEFAULTS``).

    ``optim_cfg`` maps each name in ``task.modules()`` to an optimizer config
    (:mod:`audiokit.train.optim`). ``full_config`` is the resolved run configuration,
    saved as ``config.yaml`` beside every exported model.
    """

    def __init__(self, task, train_set, collate, cfg: dict, optim_cfg: dict, exp_dir,
                 full_config: dict, valid_set=None, valid_collate=None, dist_info: DistInfo | None = None):
        self.cfg = {**DEFAULTS, **{k: v for k, v in dict(cfg).items() if v is not None or k in DEFAULTS}}
        unknown = set(cfg) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown trainer options: {sorted(unknown)}; known: {sorted(DEFAULTS)}")
        self.info = dist_info or init_distributed()
        self.device = pick_device(self.cfg["device"], self.info)
        self.task = task.to(self.device)
        self.train_set, self.collate = train_set, collate
        self.valid_set, self.valid_collate = valid_set, valid_collate or collate
        self.exp_dir = Path(exp_dir)
        self.full_config = full_config
        self.modules = task.modules()
        missing = set(self.modules) - set(optim_cfg)
        if missing:
            raise ValueError(f"no optimizer config for {sorted(missing)} (set optim.<name>)")
        self.optim_cfg = {k: dict(optim_cfg[k]) for k in self.modules}
        self.optimizers = {k: build_optimizer(m.parameters(), self.optim_cfg[k]) for k, m in self.modules.items()}
        self.schedulers = {k: build_scheduler(o, self.optim_cfg[k]) for k, o in self.optimizers.items()}
        self.amp_dtype = self._amp_dtype()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.best = None
        self.bad_steps = 0
        self.skipped_total = 0
        self._sync_parameters()

    # ----------------------------------------------------------------- set-up helpers
    def _amp_dtype(self):
        p = self.cfg["precision"]
        if p == "auto":
            p = "bf16" if self.device.type == "cuda" else "fp32"
        return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[p]

    def _sync_parameters(self):
        # Ranks start from rank 0's weights whatever their seeds did.
        if self.info.enabled:
            for m in self.modules.values():
                for t in list(m.parameters()) + list(m.buffers()):
                    dist.broadcast(t.data, 0)

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    # ----------------------------------------------------------------- the update
    def update(self, name: str, loss: torch.Tensor) -> bool:
        """Backward ``loss`` into module ``name`` and step its optimizer; False if skipped."""
        opt, module = self.optimizers[name], self.modules[name]
        params = [p for p in module.parameters() if p.requires_grad]
        opt.zero_grad(set_to_none=True)  # drop grads other losses left here (e.g. D via the G loss)
        finite = broadcast_all_finite(torch.isfinite(loss.detach()).all(), self.info)
        if not finite:
            return self._skip(name, "loss is NaN/Inf")
        with torch.autocast(self.device.type, enabled=False):
            self.scaler.scale(loss).backward()
        if self.info.enabled:
            allreduce_grads(params, self.info.world_size)
        self.scaler.unscale_(opt)
        clip = self.optim_cfg[name].get("grad_clip", self.cfg["grad_clip"])
        norm = torch.nn.utils.clip_grad_norm_(params, clip if clip else float("inf"))
        if not torch.isfinite(norm):
            opt.zero_grad(set_to_none=True)
            if self.scaler.is_enabled():
                self.scaler.update()  # fp16: lets the scaler lower its scale
            return self._skip(name, "gradient is NaN/Inf")
        self.scaler.step(opt)
        self.scaler.update()
        opt.zero_grad(set_to_none=True)
        self.bad_steps = 0
        self._last_norms[name] = float(norm)
        return True

    def _skip(self, name, why) -> bool:
        self.bad_steps += 1
        self.skipped_total += 1
        self._log_line(f"step {self.step}: skipped update of {name}: {why} "
                       f"({self.bad_steps} in a row, {self.skipped_total} in total)")
        if self.bad_steps > self.cfg["max_bad_steps"]:
            raise FloatingPointError(f"{self.bad_steps} consecutive non-finite updates; stopping "
                                     f"(lower the learning rate or check the data). Last: {name}: {why}")
        return False

    # ----------------------------------------------------------------- data order
    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        """Batches of indices for ``epoch``: a seeded permutation, sharded over ranks."""
        g = torch.Generator().manual_seed(self.cfg["seed"] * 1000003 + epoch)
        order = torch.randperm(len(self.train_set), generator=g).tolist()
        order = order[self.info.rank::self.info.world_size]
        bs = self.cfg["batch_size"]
        return [order[i:i + bs] for i in range(0, len(order) - bs + 1, bs)]  # drop last partial batch

    def _loader(self, epoch: int, start: int):
        if hasattr(self.train_set, "set_epoch"):
            self.train_set.set_epoch(epoch)
        batches = self._epoch_batches(epoch)[start:]
        if self.cfg["num_workers"] > 0:
            # fd passing between worker processes fails in some sandboxes/containers
            # (resource_sharer connection errors); shared-memory files work everywhere.
            torch.multiprocessing.set_sharing_strategy("file_system")
        # Own generator: creating a loader iterator must not draw from the global RNG,
        # or a resumed run would be one draw ahead of an uninterrupted one.
        g = torch.Generator().manual_seed(self.cfg["seed"] * 7919 + epoch * 104729 + self.info.rank)
        return DataLoader(self.train_set, batch_sampler=batches, collate_fn=self.collate, generator=g,
                          num_workers=self.cfg["num_workers"], pin_memory=self.device.type == "cuda",
                          persistent_workers=False)

    def _to_device(self, batch):
        if isinstance(batch, torch.Tensor):
            return batch.to(self.device, non_blocking=True)
        if isinstance(batch, dict):
            return {k: self._to_device(v) for k, v in batch.items()}
        if isinstance(batch, (list, tuple)):
            return type(batch)(self._to_device(v) for v in batch)
        return batch

    # ----------------------------------------------------------------- checkpoints
    def _save_checkpoint(self):
        if self.info.is_main:
            ckpt_io.save_checkpoint(
                self.exp_dir, self.step, self.modules, self.optimizers, self.schedulers,
                extra={"epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch, "best": self.best,
                       "scaler": self.scaler.state_dict(), "skipped_total": self.skipped_total},
                keep=self.cfg["keep_checkpoints"])
        barrier(self.info)

    def _resume(self) -> bool:
        ckpt = ckpt_io.latest_checkpoint(self.exp_dir)
        if ckpt is None:
            return False
        state = ckpt_io.load_checkpoint(ckpt, self.modules, self.optimizers, self.schedulers, self.device)
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.best, self.skipped_total = state["best"], state.get("skipped_total", 0)
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        ckpt_io.set_rng_state(state["rng"])
        self._log_line(f"resumed from {ckpt} at step {self.step} (epoch {self.epoch}, batch {self.batch_in_epoch})")
        return True

    def _export(self, subdir: str | None):
        model, model_cfg = self.task.export()
        config = {**self.full_config, "model": model_cfg}
        target = self.exp_dir if subdir is None else self.exp_dir / subdir
        save_model(model, target, config)

    # ----------------------------------------------------------------- validation
    def _validate(self) -> dict:
        metrics = {}
        if self.info.is_main and self.valid_set is not None:
            loader = DataLoader(self.valid_set, batch_size=1, shuffle=False, collate_fn=self.valid_collate,
                                num_workers=min(1, self.cfg["num_workers"]))
            for m in self.modules.values():
                m.eval()
            # Validation must not move the training RNG, or resume would not be exact.
            devices = [self.device] if self.device.type == "cuda" else []
            py_state = random.getstate()
            with torch.random.fork_rng(devices=devices), torch.no_grad(), self._autocast():
                metrics = self.task.validate(loader)
            random.setstate(py_state)
            for m in self.modules.values():
                m.train()
            for k, v in metrics.items():
                self.writer.add_scalar(f"valid/{k}", v, self.step)
            self._log_line(f"step {self.step} valid " + " ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
        if self.info.is_main:
            self._export("last")
            key, mode = self.cfg["best_metric"], self.cfg["best_mode"]
            value = metrics.get(key) if key else None
            better = value is not None and math.isfinite(value) and (
                self.best is None or (value > self.best if mode == "max" else value < self.best))
            if better or key is None or (value is None and self.best is None):
                self.best = value
                self._export(None)
                self._log_line(f"step {self.step}: new best model" + (f" ({key}={value:.4f})" if value is not None else ""))
        barrier(self.info)
        return metrics

    # ----------------------------------------------------------------- logging
    def _log_line(self, msg: str):
        if not self.info.is_main:
            return
        line = f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {msg}"
        tqdm.write(line, file=sys.stderr)
        with open(self.exp_dir / "train.log", "a", encoding="utf-8") as f:
            f.write(line + "\n")

    # ----------------------------------------------------------------- the loop
    def fit(self, resume: bool = False) -> dict:
        self.exp_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            self._resume()
        self.writer = _NullWriter()
        if self.info.is_main:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(self.exp_dir / "tensorboard"))
            except ImportError:  # tensorboard is a declared dependency; tolerate stripped environments
                self._log_line("tensorboard not installed: logging to train.log only")
        cfg, max_steps = self.cfg, self.cfg["max_steps"]
        if not self._epoch_batches(0):
            raise ValueError(f"training set has {len(self.train_set)} items, fewer than one batch "
                             f"of {cfg['batch_size']} per rank")
        for m in self.modules.values():
            m.train()
        t_start, t_log, steps_log = time.time(), time.time(), 0
        bar = tqdm(total=max_steps, initial=self.step, disable=not self.info.is_main, desc="train", dynamic_ncols=True)
        stop = self.step >= max_steps
        logs: dict[str, float] = {}
        while not stop:
            for batch in self._loader(self.epoch, self.batch_in_epoch):
                self._last_norms = {}
                batch = self._to_device(batch)
                with self._autocast():
                    logs = self.task.train_step(batch, self.update)
                for s in self.schedulers.values():
                    s.step()
                self.step += 1
                self.batch_in_epoch += 1
                steps_log += 1
                bar.update(1)
                if self.info.is_main and self.step % cfg["log_every"] == 0:
                    rate = steps_log / max(time.time() - t_log, 1e-9)
                    for k, v in logs.items():
                        self.writer.add_scalar(f"train/{k}", v, self.step)
                    for k, o in self.optimizers.items():
                        self.writer.add_scalar(f"lr/{k}", o.param_groups[0]["lr"], self.step)
                    for k, v in self._last_norms.items():
                        self.writer.add_scalar(f"grad_norm/{k}", v, self.step)
                    self.writer.add_scalar("train/steps_per_s", rate, self.step)
                    self._log_line(f"step {self.step} " + " ".join(f"{k}={v:.4f}" for k, v in logs.items())
                                   + f" ({rate:.2f} steps/s)")
                    bar.set_postfix({k: f"{v:.3g}" for k, v in list(logs.items())[:3]})
                    t_log, steps_log = time.time(), 0
                out_of_time = cfg["max_minutes"] is not None and (time.time() - t_start) > 60 * cfg["max_minutes"]
                out_of_time = broadcast_flag(out_of_time, self.info, self.device)
                stop = self.step >= max_steps or out_of_time
                if self.step % cfg["valid_every"] == 0 or stop:
                    self._validate()
                if self.step % cfg["save_every"] == 0 or stop:
                    self._save_checkpoint()
                if stop:
                    break
            else:
                self.epoch += 1
                self.batch_in_epoch = 0
        bar.close()
        self.writer.close()
        self.task.close()
        return {"step": self.step, "best": self.best, "seconds": time.time() - t_start}


class _NullWriter:
    def add_scalar(self, *args, **kwargs):
        pass

    def close(self):
        pass


def broadcast_all_finite(flag: torch.Tensor, info: DistInfo) -> bool:
    """True only if the flag holds on every rank, so all ranks skip a bad step together."""
    if not info.enabled:
        return bool(flag)
    t = flag.to(torch.int32).reshape(1)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def allreduce_grads(params, world_size: int) -> None:
    """Average gradients over ranks in one flat buffer.

    Done explicitly rather than with DDP hooks because GAN steps push gradients through a
    discriminator several times per step, which DDP's reducer does not allow.
    """
    for p in params:  # a rank whose graph missed a parameter still joins the reduction
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    grads = [p.grad for p in params]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset:offset + n].view_as(g))
        offset += n


def train_from_config(task, train_set, collate, config: dict, *, valid_set=None, max_valid: int | None = None,
                      valid_collate=None) -> dict:
    """What every recipe's ``train.py`` ends with: cap the validation set, fit, report.

    ``config`` is the resolved run configuration (``trainer``, ``optim``, ``exp_dir``,
    ``resume`` sections); it is saved beside every exported model.
    """
    from torch.utils.data import Subset

    if valid_set is not None and max_valid and len(valid_set) > max_valid:
        valid_set = Subset(valid_set, range(max_valid))
    trainer = Trainer(task, train_set, collate, config["trainer"], config["optim"], config["exp_dir"], config,
                      valid_set=valid_set, valid_collate=valid_collate)
    result = trainer.fit(resume=bool(config.get("resume", False)))
    if trainer.info.is_main:
        best = config["trainer"].get("best_metric")
        print(f"done: step {result['step']}, best {best}={result['best']}, "
              f"{result['seconds'] / 60:.1f} min -> {config['exp_dir']}")
    return result
