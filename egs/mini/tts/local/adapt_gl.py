"""Diagnostic for stage 5: Griffin-Lim renderings of a Lina-style model before and after
initial-state adaptation, so spk_sim is not capped by the mini vocoder (trained on one voice).

Writes data directories (wav.scp + text) under OUT for `audiokit score`:
  rec_<name>     each --data directory's recordings through Griffin-Lim (the ceiling)
  <system>       free-running synthesis of the FIRST --data directory's sentences by each
                 model (--model NAME=DIR: a model directory or an adapted one)
and OUT/diag.json: per system and data directory the teacher-forced loss on the recordings
(normalised-mel L1 + post-net + stop, as training), the mean |log-mel| difference from the
first system teacher-forced and free-running (over the common length), frame counts, and as
a noise floor the free-running difference of the first system from itself with other dropout.
Every system draws its pre-net dropout from the same seed per sentence, so base and adapted
differ only by the initial states.
Mel -> magnitude by non-negative least squares on the model's Slaney filterbank, then
Griffin-Lim (Griffin & Lim 1984; librosa.griffinlim, 32 iterations, seeded phases) on the
magnitude raised to 1.2 -- local/griffin_lim.py's renderer. Not a vocoder audiokit ships.

  local/adapt_gl.py exp/adapt_gl --model base=exp/lina_mini_multi \
      --model adapted=exp/adapt_en-gb-x-rp_f4/adapted \
      --data new=data/voice_en-gb-x-rp_f4/test --data ctrl=DATA_OF_A_TRAINING_VOICE
  audiokit score --ref data/voice_en-gb-x-rp_f4/test --est exp/adapt_gl/adapted --metrics spk_sim,wer ...
"""
import argparse
import json
from pathlib import Path

import numpy as np
import torch
from griffin_lim import renderer  # local/, beside this script

from audiokit.audio import load
from audiokit.datadir import DataDir, read_table, write_table
from audiokit.frontend.mel import MelSpectrogram
from audiokit.infer.synthesize import load_tts
from audiokit.text import build_frontend


def _pair(s):
    name, sep, path = s.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {s!r}")
    return name, path


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--model", type=_pair, action="append", required=True, help="NAME=DIR (the first is the reference)")
    p.add_argument("--data", type=_pair, action="append", required=True, help="NAME=DATADIR (the first is synthesized)")
    p.add_argument("--iters", type=int, default=32, help="Griffin-Lim iterations")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    out = Path(a.out)

    models = {name: load_tts(d) for name, d in a.model}
    ref_name = a.model[0][0]
    model0, table0, fe_cfg = models[ref_name]
    frontend = build_frontend(fe_cfg)
    ms = model0.mel_settings
    melspec = MelSpectrogram(**ms)
    render = renderer(ms, a.iters)

    def tokens_of(text):
        return torch.tensor([table0.encode(frontend.process(text).tokens)])

    diag = {"systems": {}, "data": {}}
    # recordings through Griffin-Lim, and teacher-forced losses / mel differences on them
    for dname, ddir in a.data:
        texts, wavs = read_table(Path(ddir) / "text"), DataDir(ddir).audio("wav.scp")
        scp, tf_loss, tf_out = {}, {m: [] for m in models}, {m: [] for m in models}
        for utt in sorted(texts):
            mel = melspec(load(wavs[utt], sr=ms["sample_rate"])[0][None])[0]
            scp[utt] = render(mel.numpy(), out / f"rec_{dname}" / "wavs" / f"{utt}.wav")
            tok = tokens_of(texts[utt])
            for m, (model, _, _) in models.items():
                model.eval()
                with torch.no_grad():
                    torch.manual_seed(a.seed)   # same pre-net dropout for every model
                    tf_loss[m].append(float(model(tok, None, mel[None], torch.tensor([mel.shape[-1]]))["loss"]))
                    y = (mel[None] - model.mel_mean) / model.mel_std
                    torch.manual_seed(a.seed)
                    frames, _ = model.teacher_forced(tok, y)
                    tf_out[m].append(model.head.finish(frames)[0] * model.mel_std + model.mel_mean)
        write_table(out / f"rec_{dname}" / "wav.scp", scp)
        write_table(out / f"rec_{dname}" / "text", {u: texts[u] for u in scp})
        diag["data"][dname] = {
            "dir": ddir,
            "tf_loss": {m: float(np.mean(v)) for m, v in tf_loss.items()},
            "tf_mel_absdiff_vs_" + ref_name: {m: float(np.mean([(x - r).abs().mean().item() for x, r in
                                                              zip(tf_out[m], tf_out[ref_name])])) for m in models},
        }

    # free-running synthesis of the first data directory's sentences
    dname, ddir = a.data[0]
    texts = read_table(Path(ddir) / "text")
    mels = {m: {} for m in models}
    for m, (model, _, _) in models.items():
        model.eval()
        scp = {}
        for i, utt in enumerate(sorted(texts)):
            torch.manual_seed(a.seed + i)   # the pre-net dropout stays on at inference
            with torch.no_grad():
                mel, n = model.synthesize(tokens_of(texts[utt]))
            mel = mel[0, :, : int(n[0])]
            mels[m][utt] = mel
            scp[utt] = render(mel.numpy(), out / m / "wavs" / f"{utt}.wav")
        write_table(out / m / "wav.scp", scp)
        write_table(out / m / "text", {u: texts[u] for u in scp})

    # the noise floor: the reference model again with other pre-net dropout draws
    model0.eval()
    mels["reseed"] = {}
    for i, utt in enumerate(sorted(texts)):
        torch.manual_seed(a.seed + 1000 + i)
        with torch.no_grad():
            mel, n = model0.synthesize(tokens_of(texts[utt]))
        mels["reseed"][utt] = mel[0, :, : int(n[0])]

    def free_diff(m):
        d = []
        for utt, r in mels[ref_name].items():
            x = mels[m][utt]
            t = min(x.shape[-1], r.shape[-1])
            d.append((x[:, :t] - r[:, :t]).abs().mean().item())
        return float(np.mean(d))

    for m in models:
        diag["systems"][m] = {"dir": dict(a.model)[m], "frames": [int(v.shape[-1]) for v in mels[m].values()],
                              "free_mel_absdiff_vs_" + ref_name: free_diff(m)}
    diag["free_mel_absdiff_" + ref_name + "_reseeded"] = free_diff("reseed")
    (out / "diag.json").write_text(json.dumps(diag, indent=1))
    print(json.dumps(diag, indent=1))


if __name__ == "__main__":
    main()
