"""The mini TTS recipe, stages 0-4, on a tiny single-voice corpus: the wiring users run."""

import json

import pytest
import yaml

from audiokit.datadir import read_table

from ._recipes import copy_recipe, run


@pytest.fixture
def recipe(tmp_path):
    return copy_recipe(tmp_path, "mini", "tts")


def test_stages_end_to_end(recipe, monkeypatch):
    # one thread per program: these tiny models gain nothing from two, and lose much when the
    # cores are shared (OpenMP barriers)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    tiny = ("trainer.max_steps=2 trainer.batch_size=2 trainer.num_workers=0 trainer.valid_every=2 "
            "trainer.save_every=2 data.max_valid=1 mel_stats_items=4")
    # after run.sh's HiFi-GAN settings (later values win); step 2 is a full GAN step
    voc = ("trainer.max_steps=2 trainer.batch_size=2 trainer.num_workers=0 data.segment=4096 trainer.valid_every=2 "
           "trainer.save_every=2 data.max_valid=1 valid_metrics=[] hifigan.loss.warmup_steps=1")
    r = run(recipe, "--data_opts", "--voice en-us+m1 --n-train 4 --n-dev 1 --n-test 2", "--train_opts", tiny,
            "--voc_opts", voc, "--synth_opts", "--steps 1", "--metrics", "mcd", "--ref_metrics", "")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert set(read_table(recipe / "data" / "train" / "utt2spk").values()) == {"spk00"}
    exp = recipe / "exp" / "fastspeech_mini_linear"
    cfg = yaml.safe_load((exp / "config.yaml").read_text())
    m = cfg["model"]
    assert m["name"] == "fastspeech" and m["attention"] == "linear" and m["decoder"] == "ffn"
    assert m["symbols"]["symbols"][0] == "<pad>" and cfg["frontend"]["type"] == "espeak"
    assert m["mel_mean"] == pytest.approx(cfg["mel_stats"][0]) and m["mel_std"] > 0
    assert (exp / "checkpoints" / "LATEST").read_text().strip() == "step_2"
    voc_cfg = yaml.safe_load((recipe / "exp" / "vocoder_hifigan_mini" / "config.yaml").read_text())
    assert voc_cfg["task"] == "hifigan" and voc_cfg["model"]["upsample_initial_channel"] == 128
    assert voc_cfg["hifigan"]["discriminator"]["mpd_channels"] == [8, 32, 64, 128]   # hifigan=mini
    assert voc_cfg["optim"]["generator"]["schedule"]["every"] == 75
    synth = exp / "synth" / "test"
    assert sorted(read_table(synth / "wav.scp")) == sorted(read_table(recipe / "data" / "test" / "text"))
    assert read_table(synth / "text") == read_table(recipe / "data" / "test" / "text")
    summary = json.loads((exp / "scores" / "test" / "summary.json").read_text())
    assert set(summary) == {"mcd"} and summary["mcd"]["n"] == 2
    assert "| fastspeech_mini_linear |" in (recipe / "exp" / "scores" / "test" / "RESULTS.md").read_text()


def test_bad_vocoder_task_is_an_error(recipe):
    r = run(recipe, "--voc_task", "melgan", "--stage", "2")
    assert r.returncode == 2 and "--voc_task must be hifigan or periodwave" in r.stderr


def test_unknown_option_is_an_error(recipe):
    r = run(recipe, "--modle", "x")
    assert r.returncode == 2 and "unknown option --modle" in r.stderr
