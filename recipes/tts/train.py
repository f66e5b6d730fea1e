"""Train a TTS acoustic model on (recording, transcript) pairs in data directories.

    python recipes/tts/train.py model=fastspeech_full exp_dir=exp/fastspeech data.train=data/train data.valid=data/dev
    python recipes/tts/train.py model=fastspeech_mini_linear trainer.max_steps=2000 ...
    torchrun --standalone --nproc_per_node 2 recipes/tts/train.py ...   # multi-GPU (DDP)

Before training, the model's symbol table (``symbols``: every IPA symbol, the character
alphabet, or the symbols of the training texts) and, for models that normalise their mels,
the training set's log-mel mean and standard deviation (``mel_stats``, measured unless given)
are written into the model config. Writes exp_dir/{config.yaml, model.safetensors} (best on
the validation loss; config.yaml also holds the text front-end, so ``audiokit synthesize``
reads text as the model was trained), last/, checkpoints/ (resumable), train.log, tensorboard/.
"""

import inspect

import hydra
from omegaconf import DictConfig, OmegaConf

from audiokit.datadir import read_table
from audiokit.registry import build_model, model_class
from audiokit.train.trainer import seed_everything, train_from_config
from audiokit.tts.data import TTSDataset, collate, mel_stats, symbol_table
from audiokit.tts.task import TTSTask


def _report(name, ds):
    if ds.problems:
        print(f"{name}: {len(ds.problems)} utterance(s) skipped, e.g. "
              + "; ".join(f"{u}: {m}" for u, m in list(ds.problems.items())[:3]))
    print(f"{name}: {len(ds)} utterances")


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> None:
    config = OmegaConf.to_container(cfg, resolve=True)
    seed_everything(cfg.trainer.seed)  # same initial weights on every rank
    d, model_cfg = config["data"], dict(config["model"])
    texts = read_table(f"{d['train']}/text").values() if config["symbols"] == "corpus" else None
    model_cfg["symbols"] = symbol_table(config["symbols"], config["frontend"], texts).to_dict()
    mel_settings = build_model(model_cfg).mel_settings
    kw = dict(max_seconds=d["max_seconds"], on_error=d["on_error"], table=d["table"])
    train_set = TTSDataset(d["train"], config["frontend"], model_cfg["symbols"], mel_settings, **kw)
    _report(d["train"], train_set)
    if "mel_mean" in inspect.signature(model_class(model_cfg["name"])).parameters:
        if not config.get("mel_stats"):
            config["mel_stats"] = list(mel_stats(train_set, config["mel_stats_items"]))
            print(f"log-mel mean {config['mel_stats'][0]:.4f} std {config['mel_stats'][1]:.4f} "
                  f"(on up to {config['mel_stats_items']} items of {d['train']})")
        model_cfg["mel_mean"], model_cfg["mel_std"] = (float(v) for v in config["mel_stats"])
    config["model"] = model_cfg
    valid_set = None
    if d["valid"]:
        valid_set = TTSDataset(d["valid"], config["frontend"], model_cfg["symbols"], mel_settings,
                               **{**kw, "on_error": "skip"})
        _report(d["valid"], valid_set)
    train_from_config(TTSTask(model_cfg), train_set, collate, config, valid_set=valid_set, max_valid=d["max_valid"])


if __name__ == "__main__":
    main()
