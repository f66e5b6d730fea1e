"""The mini vocoder recipe, stages 0-4, on a tiny corpus: the wiring users run."""

import json

import pytest
import yaml

from ._recipes import copy_recipe, run


@pytest.fixture
def recipe(tmp_path):
    return copy_recipe(tmp_path, "mini", "voc")


def test_stages_end_to_end(recipe):
    tiny = ("trainer.max_steps=2 trainer.batch_size=2 trainer.num_workers=0 data.segment=4096 "
            "trainer.valid_every=2 trainer.save_every=2 data.max_valid=1 valid_steps=1 valid_metrics=[]")
    r = run(recipe, "--data_opts", "--n-train 4 --n-dev 1 --n-test 2", "--train_opts", tiny,
            "--vocode_opts", "--steps 1", "--metrics", "mstft,mel_l1,pesq_wb")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    exp = recipe / "exp" / "periodwave_tiny"
    cfg = yaml.safe_load((exp / "config.yaml").read_text())
    assert cfg["model"]["name"] == "periodwave" and cfg["model"]["hidden_dim"] == 32
    lo, hi = cfg["energy_stats"]
    assert cfg["model"]["energy_min"] == pytest.approx(lo) and 0 < lo < hi
    assert (exp / "checkpoints" / "LATEST").read_text().strip() == "step_2"
    assert len((exp / "vocoded" / "test" / "wav.scp").read_text().splitlines()) == 2
    summary = json.loads((exp / "scores" / "test" / "summary.json").read_text())
    assert set(summary) == {"mstft", "mel_l1", "pesq_wb"} and summary["mstft"]["n"] == 2
    table = (exp / "scores" / "test" / "RESULTS.md").read_text()
    assert "| periodwave_tiny |" in table and "mel_l1" in table


def test_unknown_option_is_an_error(recipe):
    r = run(recipe, "--stgae", "3")
    assert r.returncode == 2 and "unknown option --stgae" in r.stderr
