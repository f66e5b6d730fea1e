"""A least-squares task and its data for the trainer tests. Run as a script (by
test_trainer.test_two_ranks_match_one_process, alone or under torchrun): a few deterministic steps;
each rank saves its final weights to <out>.rank<r>.pt."""
import sys
from pathlib import Path

import torch
from torch import nn

import audiokit.train.trainer as tr


class Task:
    def __init__(self):
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))

    def modules(self):
        return {"net": self.net}

    def to(self, device):
        self.net.to(device)
        return self

    def train_step(self, batch, update):
        x, y = batch
        loss = ((self.net(x).squeeze(-1) - y) ** 2).mean()
        update("net", loss)
        return {"loss": float(loss.detach())}

    def export(self):
        return self.net, {"name": "two_ranks"}

    def close(self):
        pass


class Data(torch.utils.data.Dataset):
    def __init__(self, n=40):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 4, generator=g)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5, 3.0])

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def collate(items):
    return torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])


def main(out: str, batch_size: int):
    tr.save_model = lambda model, directory, config: None   # (no model registry entry for this task)
    tr.seed_everything(0)
    cfg = dict(max_steps=7, batch_size=batch_size, num_workers=0, log_every=100, valid_every=100, save_every=100,
               device="cpu", grad_clip=None)
    optim = {"net": {"name": "sgd", "lr": 0.05}}   # (plain SGD: a sum of the ranks' gradients would show)
    trainer = tr.Trainer(Task(), Data(64), collate, cfg, optim, Path(out).parent / f"exp_{Path(out).name}",
                         {"model": {"name": "two_ranks"}})
    if trainer.info.rank == 0:
        torch.save(trainer.task.net.state_dict(), f"{out}.init.pt")
    trainer.fit()
    torch.save(trainer.task.net.state_dict(), f"{out}.rank{trainer.info.rank}.pt")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
