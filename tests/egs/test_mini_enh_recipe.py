"""The mini enhancement recipe, stages 0-3, on a tiny corpus: the wiring users run."""

import json

import pytest
import yaml

from ._recipes import copy_recipe, run


@pytest.fixture
def recipe(tmp_path):
    return copy_recipe(tmp_path, "mini", "enh")


def test_stages_end_to_end(recipe):
    tiny = ("trainer.max_steps=2 trainer.batch_size=2 trainer.num_workers=0 data.segment=0.5 "
            "trainer.valid_every=2 trainer.save_every=2 data.max_valid=2 pesq_workers=1 "
            "model.dense_channel=8 model.num_tsblocks=1")
    r = run(recipe, "--data_opts", "--n-train 8 --n-dev 2 --n-test 3", "--train_opts", tiny,
            "--metrics", "pesq_wb,stoi,si_sdr")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    exp = recipe / "exp" / "mpsenet_mini"
    cfg = yaml.safe_load((exp / "config.yaml").read_text())
    assert cfg["model"]["name"] == "mpsenet" and cfg["model"]["dense_channel"] == 8
    assert (exp / "checkpoints" / "LATEST").read_text().strip() == "step_2"
    assert len((exp / "enhanced" / "test" / "wav.scp").read_text().splitlines()) == 3
    for system in ("noisy", "enhanced"):
        summary = json.loads((exp / "scores" / "test" / system / "summary.json").read_text())
        assert set(summary) == {"pesq_wb", "stoi", "si_sdr"} and summary["pesq_wb"]["n"] == 3
    table = (exp / "scores" / "test" / "RESULTS.md").read_text()
    assert "| noisy |" in table and "| enhanced |" in table and "pesq_wb" in table
    assert "| noisy |" in r.stdout

    # Stage 1 again resumes from the finished checkpoint and does no work.
    r = run(recipe, "--stage", "1", "--stop_stage", "1", "--train_opts", tiny)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "resumed from" in (exp / "train.log").read_text()


def test_unknown_option_is_an_error(recipe):
    r = run(recipe, "--stgae", "3")
    assert r.returncode == 2 and "unknown option --stgae" in r.stderr
