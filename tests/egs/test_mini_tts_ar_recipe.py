"""The mini TTS recipe with the autoregressive models (lina_mini, transformer_tts_mini) and their
own optimisers, and its stage 5 (voice adaptation), wired end to end on tiny data: a few steps
each, an untrained vocoder given with --vocoder (stage 2 is tested in test_mini_tts_recipe)."""

import json

import pytest
import yaml

from audiokit.datadir import read_table
from audiokit.registry import build_model, save_model

from ._recipes import copy_recipe, run

TINY = ("trainer.max_steps=2 trainer.batch_size=2 trainer.num_workers=0 trainer.valid_every=2 "
        "trainer.save_every=2 data.max_valid=1 mel_stats_items=4")
VOC = {"name": "hifigan", "upsample_initial_channel": 16, "resblock_kernel_sizes": [3],
       "resblock_dilation_sizes": [[1]]}
DATA = "--voice en-us+m1 --n-train 4 --n-dev 1 --n-test 2"


@pytest.fixture
def recipe(tmp_path, monkeypatch):
    # one thread per program: these tiny models gain nothing from two and lose much on shared cores
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    d = copy_recipe(tmp_path, "mini", "tts")
    save_model(build_model(VOC), d / "voc", {"model": VOC})
    return d


def test_autoregressive_models(recipe):
    r = run(recipe, "--models", "lina_mini transformer_tts_mini", "--stop_stage", "3", "--vocoder", "voc",
            "--data_opts", DATA, "--train_opts", TINY)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    exp = recipe / "exp"
    cfg = yaml.safe_load((exp / "lina_mini" / "config.yaml").read_text())
    assert cfg["model"]["name"] == "lina" and cfg["model"]["d_model"] == 128
    # the model's own optimiser, with the recipe's per-model warm-up (lina_opts)
    assert cfg["optim"]["model"] == {"name": "adamw", "lr": 5e-4, "weight_decay": 0.1,
                                     "schedule": {"name": "cosine", "warmup": 150, "total": 2, "final": 0.0}}
    cfg = yaml.safe_load((exp / "transformer_tts_mini" / "config.yaml").read_text())
    assert cfg["model"]["name"] == "transformer_tts" and cfg["model"]["mel_std"] > 0
    assert cfg["optim"]["model"] == {"name": "adam", "lr": 1.0, "betas": [0.9, 0.98], "eps": 1e-9,
                                     "weight_decay": 0.0,
                                     "schedule": {"name": "noam", "warmup": 4000, "d_model": 128}}
    for m in ("lina_mini", "transformer_tts_mini"):
        assert (exp / m / "checkpoints" / "LATEST").read_text().strip() == "step_2"
        assert sorted(read_table(exp / m / "synth" / "test" / "wav.scp")) == \
            sorted(read_table(recipe / "data" / "test" / "text"))


@pytest.mark.parametrize("sentences", [False, True], ids=["mini", "sentences"])
def test_adaptation_stage(recipe, sentences):
    extra = []
    if sentences:   # the base model's corpus from a sentence file (local/espeak_corpus.py)
        (recipe / "texts.txt").write_text("".join(f"Sentence number {w} is here.\n" for w in
                                                  "one two three four five six seven eight nine ten eleven twelve".split()))
        extra = ["--adapt_sentences", "texts.txt"]
    r = run(recipe, "--stage", "5", "--vocoder", "voc", "--train_opts", TINY, "--synth_opts", "",
            "--adapt_voice", "en-gb-x-rp+f4", "--adapt_data_opts", "--n-train 6 --n-dev 1 --n-test 0",
            "--adapt_voice_opts", "--n-train 2 --n-dev 0 --n-test 2", "--adapt_train_opts", "",
            "--adapt_opts", "--steps 2 --batch-size 2", "--adapt_metrics", "mcd", *extra)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    exp = recipe / "exp"
    tag = "_sentences" if sentences else ""
    # base model on the six training voices of the multi-voice corpus, states tuned on the new voice
    assert len(set(read_table(recipe / "data" / f"multi{tag}" / "train" / "utt2spk").values())) == 6
    if sentences:   # the last 6 sentences are the dev split's
        assert sorted(read_table(recipe / "data" / "multi_sentences" / "train" / "text").values())[0] == \
            "Sentence number five is here."
        assert len(read_table(recipe / "data" / "multi_sentences" / "dev" / "text")) == 6
    voice = recipe / "data" / "voice_en-gb-x-rp_f4"
    assert set(read_table(voice / "train" / "utt2spk").values()) == {"spk00"}
    assert not set(read_table(voice / "test" / "text").values()) & set(read_table(voice / "train" / "text").values())
    assert yaml.safe_load((exp / f"lina_mini_multi{tag}" / "config.yaml").read_text())["model"]["name"] == "lina"
    ad = exp / "adapt_en-gb-x-rp_f4"
    meta = yaml.safe_load((ad / "adapted" / "adapted.yaml").read_text())
    assert meta["steps"] == 2 and meta["utterances"] == 2 and not (ad / "adapted" / "model.safetensors").exists()
    for s in ("copysyn", "synth_base", "synth_adapted"):
        assert json.loads((ad / f"scores_{s}" / "summary.json").read_text())["mcd"]["n"] == 2, s
    table = (ad / "RESULTS.md").read_text()
    assert all(f"| {row} |" in table for row in ("copysyn", "base", "adapted"))


def test_options_are_checked(recipe):
    r = run(recipe, "--model", "tacotron")
    assert r.returncode == 2 and "--model must be fastspeech, transformer_tts or lina" in r.stderr
    r = run(recipe, "--stage", "5", "--vocoder", "voc", "--adapt_voice", "en-us+m1")
    assert r.returncode != 0 and "one of the base model's training voices" in r.stderr


def test_espeak_corpus_from_sentences(tmp_path):
    """local/espeak_corpus.py: each sentence once, the six training voices in turn, data dirs that the
    TTS loader reads."""
    import subprocess
    import sys
    from pathlib import Path

    from audiokit.audio import load
    from audiokit.datadir import DataDir
    root = Path(__file__).resolve().parents[2]
    sents = tmp_path / "s.txt"
    sents.write_text("The cat sat on the mat.\nA second sentence.\n\nA third one, read aloud.\n")
    r = subprocess.run([sys.executable, str(root / "egs/mini/tts/local/espeak_corpus.py"), str(tmp_path / "c"),
                        "--train", str(sents), "--dev", str(sents), "--n-dev", "1", "--jobs", "1"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    text = read_table(tmp_path / "c/train/text")
    assert list(text.values()) == ["The cat sat on the mat.", "A second sentence.", "A third one, read aloud."]
    assert read_table(tmp_path / "c/train/utt2spk") == {u: u.split("_")[0] for u in text}
    assert len(set(read_table(tmp_path / "c/train/utt2spk").values())) == 3
    for path in DataDir(tmp_path / "c/train").audio().values():
        wav, sr = load(path)
        assert sr == 22050 and 0.5 < wav.shape[-1] / sr < 4
    assert len(read_table(tmp_path / "c/dev/text")) == 1
