"""Train a vocoder (PeriodWave, PeriodWave-Turbo or HiFi-GAN) on recordings in data directories.

    python recipes/vocoder/train.py task=periodwave model=periodwave_b optim=periodwave \
        exp_dir=exp/periodwave_b data.train=data/train data.valid=data/dev
    python recipes/vocoder/train.py task=turbo optim=turbo turbo.pretrained=exp/periodwave_b \
        exp_dir=exp/periodwave_b_turbo
    python recipes/vocoder/train.py task=hifigan model=hifigan_v1 optim=hifigan data.segment=8192 trainer.batch_size=16
    torchrun --standalone --nproc_per_node 2 recipes/vocoder/train.py ...   # multi-GPU (DDP)

Writes exp_dir/{config.yaml, model.safetensors} (best on validation PESQ), last/,
checkpoints/ (resumable), train.log and tensorboard/. For PeriodWave the energy-prior
statistics are measured on the training set first (unless ``energy_stats`` is given) and
stored in the model.
"""

import hydra
from omegaconf import DictConfig, OmegaConf

from audiokit.train.trainer import seed_everything, train_from_config
from audiokit.vocoder.data import VocoderDataset, collate, energy_stats
from audiokit.vocoder.task import HiFiGANTask, PeriodWaveTask
from audiokit.vocoder.turbo import PeriodWaveTurboTask

TASKS = ("periodwave", "turbo", "hifigan")


def build_task(cfg: dict):
    task, model, metrics = cfg["task"], cfg["model"], tuple(cfg["valid_metrics"] or ())
    if task == "hifigan":
        h = cfg["hifigan"]
        return HiFiGANTask(model, h.get("discriminator"), h.get("loss"), valid_metrics=metrics)
    if task == "turbo":
        t = cfg["turbo"]
        if not t.get("pretrained"):
            raise ValueError("task=turbo needs turbo.pretrained=<trained PeriodWave model directory>")
        return PeriodWaveTurboTask(pretrained=t["pretrained"], steps=int(t["steps"]), temperature=t["temperature"],
                                   discriminator=t.get("discriminator"), loss=t.get("loss"), valid_metrics=metrics)
    if task == "periodwave":
        stats = cfg.get("energy_stats")
        return PeriodWaveTask(model, energy_stats=tuple(stats) if stats else None, valid_steps=cfg.get("valid_steps"),
                              valid_metrics=metrics)
    raise ValueError(f"unknown task {task!r}; choose one of {TASKS}")


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> None:
    config = OmegaConf.to_container(cfg, resolve=True)
    seed_everything(cfg.trainer.seed)  # same initial weights on every rank
    task = build_task(config)
    d = cfg.data
    g = task.generator
    train_set = VocoderDataset(d.train, task.sample_rate, segment=int(d.segment), hop_length=g.hop_length,
                               table=d.table, seed=d.seed, train=True)
    if config["task"] == "periodwave" and not config.get("energy_stats"):
        lo, hi = energy_stats(train_set, g.mel)
        g.set_energy_stats(lo, hi)
        config["energy_stats"] = [lo, hi]
        print(f"energy stats of {d.train}: min {lo:.4g} max {hi:.4g}")
    valid_set = None
    if d.valid:
        valid_set = VocoderDataset(d.valid, task.sample_rate, segment=None, hop_length=g.hop_length,
                                   table=d.table, train=False)
    train_from_config(task, train_set, collate, config, valid_set=valid_set, max_valid=d.max_valid)

if __name__ == "__main__":
    main()
