"""The mini enhancement recipe, stages 0-3, on a tiny corpus: the wiring users run."""

import json

import pytest
import yaml

from ._recipes import copy_recipe, run


@pytest.fixture
def recipe(tmp_path):
    return copy_recipe(tmp_path, "mini", "enh")


def test_stages_end_to_end(recipe):
    common = ("trainer.max_steps=2 trainer.batch_size=2 trainer.num_workers=0 data.segment=0.5 "
              "trainer.valid_every=2 trainer.save_every=2 data.max_valid=2 pesq_workers=1 model.dense_channel=8")
    tiny_mpsenet = f"{common} model.num_tsblocks=1"
    tiny_mambattention = (f"optim=mambattention loss=mambattention {common} model.num_blocks=1 model.num_heads=2 "
                          "model.d_state=4")
    r = run(recipe, "--data_opts", "--n-train 8 --n-dev 2 --n-test 3", "--mpsenet_mini_opts", tiny_mpsenet,
            "--mambattention_mini_opts", tiny_mambattention, "--metrics", "pesq_wb,stoi,si_sdr")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for model, name in (("mpsenet_mini", "mpsenet"), ("mambattention_mini", "mambattention")):
        exp = recipe / "exp" / model
        cfg = yaml.safe_load((exp / "config.yaml").read_text())
        assert cfg["model"]["name"] == name and cfg["model"]["dense_channel"] == 8
        assert (exp / "checkpoints" / "LATEST").read_text().strip() == "step_2"
        assert len((exp / "enhanced" / "test" / "wav.scp").read_text().splitlines()) == 3
        for system in ("noisy", "enhanced"):
            summary = json.loads((exp / "scores" / "test" / system / "summary.json").read_text())
            assert set(summary) == {"pesq_wb", "stoi", "si_sdr"} and summary["pesq_wb"]["n"] == 3
        table = (exp / "scores" / "test" / "RESULTS.md").read_text()
        assert "| noisy |" in table and "| enhanced |" in table and "pesq_wb" in table
    cfg = yaml.safe_load((recipe / "exp" / "mambattention_mini" / "config.yaml").read_text())
    assert cfg["loss"]["complex"] == 0.2 and cfg["optim"]["generator"]["betas"] == [0.8, 0.99]
    side = (recipe / "exp" / "RESULTS_test.md").read_text().splitlines()
    assert [row.split("|")[1].strip() for row in side[2:]] == ["noisy", "mpsenet_mini", "mambattention_mini"]
    assert r.stdout.count("=== stage 0") == 1      # data prepared once for both models

    # Stage 1 again resumes from the finished checkpoints and does no work; one model on request.
    r = run(recipe, "--stage", "1", "--stop_stage", "1", "--models", "mpsenet_mini",
            "--mpsenet_mini_opts", tiny_mpsenet)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "resumed from" in (recipe / "exp" / "mpsenet_mini" / "train.log").read_text()


def test_unknown_option_is_an_error(recipe):
    r = run(recipe, "--stgae", "3")
    assert r.returncode == 2 and "unknown option --stgae" in r.stderr
