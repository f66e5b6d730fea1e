"""Train a speech enhancer (MP-SENet family) on Kaldi-style data directories.

    python recipes/enh/train.py exp_dir=exp/mpsenet data.train=data/train data.valid=data/dev
    torchrun --standalone --nproc_per_node 2 recipes/enh/train.py ...   # multi-GPU (DDP)

Writes exp_dir/{config.yaml, model.safetensors} (best on validation PESQ), last/,
checkpoints/ (resumable), train.log and tensorboard/.
"""

import hydra
from omegaconf import DictConfig, OmegaConf

from audiokit.enh.data import EnhDataset, collate
from audiokit.enh.task import EnhancementTask
from audiokit.train.trainer import seed_everything, train_from_config


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> None:
    config = OmegaConf.to_container(cfg, resolve=True)
    seed_everything(cfg.trainer.seed)  # same initial weights on every rank
    task = EnhancementTask(config["model"], config["loss"], config["discriminator"], cfg.pesq_workers)
    sr, d = task.sample_rate, cfg.data
    train_set = EnhDataset(d.train, sr, segment=d.segment, noise=d.noise, snr_range=tuple(d.snr_range),
                           seed=d.seed, train=True)
    valid_set = EnhDataset(d.valid, sr, segment=None, train=False, seed=d.seed) if d.valid else None
    train_from_config(task, train_set, collate, config, valid_set=valid_set, max_valid=d.max_valid)


if __name__ == "__main__":
    main()
