"""Diagnostic: Griffin-Lim renderings of a FastSpeech model's mels, to tell acoustic-model
failures from vocoder failures (no trained vocoder involved).

Writes data directories (wav.scp + text) under OUT, one per mel source, for `audiokit score`:
  recordings   the test recordings' own log-mels (Griffin-Lim's ceiling)
  prior        the aligned prior means mu_y (Glow-TTS/Matcha) at the predicted durations
  synth        the model's output mel (decoder; cfm: Euler steps from temperature-scaled noise)
Mel -> linear magnitude by non-negative least squares against the model's Slaney filterbank
(librosa.util.nnls), then Griffin-Lim (Griffin & Lim 1984; librosa.griffinlim, 32 iterations)
on the magnitude raised to 1.2, the exponent Tacotron used to reduce GL artefacts; phases
start from a seeded random draw, so a rerun gives the same audio.
A diagnostic only: Griffin-Lim is not a vocoder audiokit ships.

  local/griffin_lim.py exp/fastspeech_mini_linear data/test exp/gl
  audiokit score --ref data/test --est exp/gl/synth --metrics wer,cer --out exp/gl/synth/scores
"""
import argparse
from pathlib import Path

import librosa
import numpy as np
import torch

from audiokit.audio import load, save
from audiokit.datadir import DataDir, read_table, write_table
from audiokit.frontend.mel import MelSpectrogram
from audiokit.infer.synthesize import load_tts
from audiokit.text import build_frontend
from audiokit.tts import alignment


def renderer(mel_settings: dict, iters: int = 32):
    """(log-mel [n_mels, frames] array, path) -> writes the Griffin-Lim waveform, returns its path."""
    ms = mel_settings
    fb = librosa.filters.mel(sr=ms["sample_rate"], n_fft=ms["n_fft"], n_mels=ms["n_mels"],
                             fmin=ms["fmin"], fmax=ms["fmax"])

    def render(logmel, path):
        mag = librosa.util.nnls(fb, np.exp(logmel.astype(np.float64)))
        x = librosa.griffinlim(np.maximum(mag, 1e-5) ** 1.2, n_iter=iters, hop_length=ms["hop_length"],
                               win_length=ms["win_length"], n_fft=ms["n_fft"], random_state=0)
        x = torch.from_numpy(x).float()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save(path, x / max(1.0, float(x.abs().max())), ms["sample_rate"])
        return str(path.resolve())
    return render


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="FastSpeech model directory")
    p.add_argument("data", help="data directory with wav.scp and text")
    p.add_argument("out", help="output folder (recordings/, prior/, synth/)")
    p.add_argument("--steps", type=int, default=10, help="cfm decoder Euler steps")
    p.add_argument("--temperature", type=float, default=0.667)
    p.add_argument("--iters", type=int, default=32, help="Griffin-Lim iterations")
    a = p.parse_args()

    model, table, frontend_cfg = load_tts(a.model)
    if not hasattr(model, "encode") or not hasattr(model, "predict_durations"):
        raise SystemExit(f"{a.model}: {type(model).__name__} is not a FastSpeech model")
    model.eval()
    frontend = build_frontend(frontend_cfg)
    ms = model.mel_settings
    melspec = MelSpectrogram(**ms)
    render = renderer(ms, a.iters)

    texts = read_table(Path(a.data) / "text")
    wavs = DataDir(a.data).audio("wav.scp")
    out = Path(a.out)
    scp = {k: {} for k in ("recordings", "prior", "synth")}
    gen = torch.Generator().manual_seed(0)
    for utt in sorted(texts):
        tokens = torch.tensor([table.encode(frontend.process(texts[utt]).tokens)])
        with torch.no_grad():
            d, _, mu = model.predict_durations(tokens)
            mu_y, _ = alignment.length_regulate(mu.transpose(1, 2), d)
            mels = {
                "recordings": melspec(load(wavs[utt], sr=ms["sample_rate"])[0][None])[0],
                "prior": mu_y[0].T * model.mel_std + model.mel_mean,
                "synth": model.synthesize(tokens, steps=a.steps, temperature=a.temperature, generator=gen)[0][0],
            }
        for kind, mel in mels.items():
            scp[kind][utt] = render(mel.numpy(), out / kind / "wavs" / f"{utt}.wav")
    for kind, table_ in scp.items():
        write_table(out / kind / "wav.scp", table_)
        write_table(out / kind / "text", {u: texts[u] for u in table_})
    print(f"Griffin-Lim renderings of {len(texts)} utterances in {out}/{{recordings,prior,synth}}")


if __name__ == "__main__":
    main()
