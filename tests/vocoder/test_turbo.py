"""PeriodWave-Turbo task: D then G updates, gradients through the ODE steps, loss weights, export."""

import pytest
import torch

from audiokit.registry import load_model, save_model
from audiokit.vocoder.periodwave import CONFIGS, PeriodWave
from audiokit.vocoder.turbo import LOSS_WEIGHTS, PeriodWaveTurboTask

TINY_D = {"mpd_periods": [2, 3],
          "cqt": {"hop_lengths": [256], "n_octaves": [5], "bins_per_octaves": [12],
                  "filters": 4, "max_filters": 8}}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    torch.manual_seed(0)
    m = PeriodWave(**CONFIGS["tiny"])
    d = tmp_path_factory.mktemp("pw") / "m"
    save_model(m, d, {"model": {"name": "periodwave", **m.init_kwargs()}})
    return d, m


def test_train_step_updates_discriminator_then_generator(pretrained):
    d, base = pretrained
    torch.manual_seed(1)
    task = PeriodWaveTurboTask(pretrained=str(d), steps=2, discriminator=TINY_D)
    for k, v in base.state_dict().items():  # starts from the pretrained weights
        torch.testing.assert_close(task.generator.state_dict()[k], v)
    mods = task.modules()
    assert set(mods) == {"generator", "discriminator"}
    opts = {k: torch.optim.AdamW(m.parameters(), lr=1e-3) for k, m in mods.items()}
    before = {k: [p.detach().clone() for p in m.parameters()] for k, m in mods.items()}
    calls = []

    def update(name, loss):
        # Like the trainer: only the named module's gradients count.
        for m in mods.values():
            m.zero_grad(set_to_none=True)
        loss.backward()
        grads = {k: any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())
                 for k, m in mods.items()}
        calls.append((name, grads))
        opts[name].step()
        return True

    batch = {"wav": 0.1 * torch.randn(2, 2100), "lengths": torch.tensor([2100, 1500])}
    logs = task.train_step(batch, update)
    assert [c[0] for c in calls] == ["discriminator", "generator"]
    # D loss sees a detached output: no generator gradient. G loss reaches the generator
    # (through the unrolled Euler steps) and the encoder that conditions it.
    assert calls[0][1] == {"generator": False, "discriminator": True}
    assert calls[1][1]["generator"]
    enc = task.generator.encoder.embed.weight
    assert not torch.equal(enc, dict(base.named_parameters())["encoder.embed.weight"])
    for k, m in mods.items():
        assert any(not torch.equal(a, b) for a, b in zip(before[k], m.parameters())), k
    w = LOSS_WEIGHTS
    assert logs["g_loss"] == pytest.approx(w["adv"] * logs["adv"] + w["fm"] * logs["fm"] + w["mel"] * logs["msmel"], rel=1e-5)
    assert (w["mel"], w["fm"], w["adv"]) == (45.0, 2.0, 1.0)


def test_export_records_fixed_steps(pretrained, tmp_path):
    d, _ = pretrained
    task = PeriodWaveTurboTask(pretrained=str(d), steps=2, discriminator=TINY_D)
    model, cfg = task.export()
    assert cfg["name"] == "periodwave"
    assert (cfg["steps"], cfg["method"], cfg["temperature"], cfg["freeu"]) == (2, "euler", 1.0, False)
    save_model(model, tmp_path / "turbo", {"model": cfg})
    loaded = load_model(tmp_path / "turbo")
    mel = torch.randn(1, 80, 3) - 3
    a = loaded.generate(mel, generator=torch.Generator().manual_seed(0))
    b = loaded.generate(mel, steps=2, method="euler", temperature=1.0, freeu=False,
                        generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, b)
    c = loaded.generate(mel, steps=4, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(a, c)


def test_bad_arguments(pretrained):
    d, _ = pretrained
    with pytest.raises(ValueError, match="pretrained"):
        PeriodWaveTurboTask()
    with pytest.raises(ValueError, match="loss weights"):
        PeriodWaveTurboTask(pretrained=str(d), loss={"stft": 1.0}, discriminator=TINY_D)
    task = PeriodWaveTurboTask(model={"name": "periodwave", **CONFIGS["tiny"]}, discriminator=TINY_D)
    with pytest.raises(ValueError, match="'wav'"):
        task.train_step({"audio": torch.zeros(1, 512)}, lambda n, l: True)


def test_validate_reports_mel_distance(pretrained):
    d, _ = pretrained
    task = PeriodWaveTurboTask(pretrained=str(d), steps=2, discriminator=TINY_D, valid_metrics=())
    loader = [{"wav": 0.1 * torch.randn(2, 2048), "lengths": torch.tensor([2048, 1300])}]
    out = task.validate(loader)
    assert set(out) == {"mel_l1"} and out["mel_l1"] > 0
    assert task.generator.training  # validate restores training mode
