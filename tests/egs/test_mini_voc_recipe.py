"""The mini vocoder recipe, stages 0-4, on a tiny corpus: the wiring users run.

The default (HiFi-GAN mini with narrow discriminators and a mel-only warm-up) first, then
``--task periodwave`` from stage 1 on the same data directories."""

import json

import pytest
import yaml
from safetensors.torch import load_file

from ._recipes import copy_recipe, run

TINY = ("trainer.max_steps=2 trainer.batch_size=2 trainer.num_workers=0 data.segment=4096 "
        "trainer.valid_every=2 trainer.save_every=2 data.max_valid=1 valid_steps=1 valid_metrics=[]")


@pytest.fixture
def recipe(tmp_path):
    return copy_recipe(tmp_path, "mini", "voc")


def _check_scores(exp, name):
    assert len((exp / "vocoded" / "test" / "wav.scp").read_text().splitlines()) == 2
    summary = json.loads((exp / "scores" / "test" / "summary.json").read_text())
    assert set(summary) == {"mstft", "mel_l1", "pesq_wb"} and summary["mstft"]["n"] == 2
    table = (exp / "scores" / "test" / "RESULTS.md").read_text()
    assert f"| {name} |" in table and "mel_l1" in table


def test_stages_end_to_end(recipe):
    # step 1 is the mel-only warm-up, step 2 a full HiFi-GAN step
    r = run(recipe, "--data_opts", "--n-train 4 --n-dev 1 --n-test 2",
            "--train_opts", TINY + " hifigan.loss.warmup_steps=1", "--metrics", "mstft,mel_l1,pesq_wb")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    exp = recipe / "exp" / "hifigan_mini"
    cfg = yaml.safe_load((exp / "config.yaml").read_text())
    assert cfg["task"] == "hifigan" and cfg["model"]["name"] == "hifigan"
    assert cfg["hifigan"]["loss"] == {"adv": 1.0, "fm": 2.0, "mel": 45.0, "warmup_steps": 1}
    assert cfg["hifigan"]["discriminator"]["mpd_periods"] == [2, 3, 5, 7, 11]
    assert cfg["optim"]["discriminator"]["lr"] == pytest.approx(2e-4)  # the published optimiser
    assert (exp / "checkpoints" / "LATEST").read_text().strip() == "step_2"
    ckpt = load_file(str(exp / "checkpoints" / "step_2" / "modules.safetensors"))
    assert int(ckpt["discriminator.steps_done"]) == 2
    assert ckpt["discriminator.mpd.discriminators.0.convs.0.bias"].shape[0] == \
        cfg["hifigan"]["discriminator"]["mpd_channels"][0]
    _check_scores(exp, "hifigan_mini")

    r = run(recipe, "--stage", "1", "--task", "periodwave", "--train_opts", TINY,
            "--vocode_opts", "--steps 1", "--metrics", "mstft,mel_l1,pesq_wb")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    exp = recipe / "exp" / "periodwave_tiny"
    cfg = yaml.safe_load((exp / "config.yaml").read_text())
    assert cfg["model"]["name"] == "periodwave" and cfg["model"]["hidden_dim"] == 32
    lo, hi = cfg["energy_stats"]
    assert cfg["model"]["energy_min"] == pytest.approx(lo) and 0 < lo < hi
    assert cfg["optim"]["generator"]["lr"] == pytest.approx(1e-3)
    _check_scores(exp, "periodwave_tiny")


def test_bad_options_are_errors(recipe):
    r = run(recipe, "--stgae", "3")
    assert r.returncode == 2 and "unknown option --stgae" in r.stderr
    r = run(recipe, "--task", "wavenet", "--stage", "3")
    assert r.returncode == 2 and "--task must be hifigan or periodwave" in r.stderr
