"""TTSTask: the trainer's view of any TTS model that follows the contract."""
import pytest
import torch

from audiokit.tts.fastspeech import CONFIGS
from audiokit.tts.task import TTSTask

MODEL = {"name": "fastspeech", "vocab_size": 20, "n_mels": 16, "mel_preset": None, **CONFIGS["tiny"]}


pytestmark = pytest.mark.usefixtures("one_thread")


def _batch(b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(1, 20, (b, 6), generator=g)
    tl = torch.tensor([6, 4][:b])
    tokens[1:, 4:] = 0
    return {"tokens": tokens, "token_lengths": tl, "mel": torch.randn(b, 16, 15, generator=g),
            "mel_lengths": torch.tensor([15, 9][:b]), "utt": ["a", "b"][:b]}


def test_train_step_updates_one_optimizer_with_the_total_loss():
    torch.manual_seed(0)
    task = TTSTask(MODEL)
    assert set(task.modules()) == {"model"}
    seen = []

    def update(name, loss):
        seen.append((name, float(loss)))
        loss.backward()
        return True

    torch.manual_seed(1)
    logs = task.train_step(_batch(), update)
    torch.manual_seed(1)
    ref = task.model(*(_batch()[k] for k in ("tokens", "token_lengths", "mel", "mel_lengths")))
    assert seen == [("model", pytest.approx(float(ref["loss"])))]
    # scalars only ("durations" is a tensor per token and is not logged)
    assert set(logs) == {"loss", "prior", "duration", "mel"} and all(isinstance(v, float) for v in logs.values())
    assert task.model.embed.weight.grad is not None


def test_validate_averages_over_utterances():
    torch.manual_seed(0)
    task = TTSTask(MODEL)
    task.model.eval()
    batches = [_batch(2, 0), _batch(1, 1)]
    out = task.validate(batches)
    per = [task.model(*(b[k] for k in ("tokens", "token_lengths", "mel", "mel_lengths")))["loss"] for b in batches]
    assert out["loss"] == pytest.approx((2 * float(per[0]) + float(per[1])) / 3, rel=1e-5)
    model, cfg = task.export()
    assert model is task.model and cfg == MODEL


def test_contract_violations_are_clear(monkeypatch):
    task = TTSTask(MODEL)
    monkeypatch.setattr(task.model, "forward", lambda *a: {"total": torch.tensor(1.0)})
    with pytest.raises(ValueError, match="no 'loss'"):
        task.train_step(_batch(), lambda n, l: True)
    with pytest.raises(ValueError, match="contract"):
        TTSTask({"name": "hifigan", "upsample_initial_channel": 32, "resblock_kernel_sizes": [3],
                 "resblock_dilation_sizes": [[1, 3, 5]]})
