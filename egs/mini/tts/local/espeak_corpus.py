"""A multi-voice eSpeak NG TTS corpus from any list of sentences, for training the autoregressive
models on more text than the mini corpus's ~250 sentences (issue 10: 240 sentences were too few for
a Lina-style decoder to speak; 7330 LJSpeech transcripts were enough).

Each sentence is spoken once, by the mini corpus's six training voices in turn, with that
generator's per-utterance draws of rate, pitch and range (tools/make_mini_corpus.py), and written
as 22.05 kHz PCM-16. Kaldi-style data directories OUT/{train,dev}/{wav.scp,text,utt2spk}.

  local/espeak_corpus.py OUT --train sentences.txt [--dev dev_sentences.txt] [--n-dev 6] [--jobs 2]

Without --dev, the last --n-dev sentences of --train are the dev split's (and not trained on).

Sentences with digits are best left out (eSpeak reads numbers its own way, the text front-end
another); LJSpeech's transcripts without digits and up to 110 characters gave 7330 training
sentences (8.4 h).
"""
import argparse
import multiprocessing as mp
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[4]
sys.path[:0] = [str(REPO), str(REPO / "tools")]

from make_mini_corpus import SPEAKERS, SYNTH_SR, _speak  # noqa: E402

from audiokit.audio import save  # noqa: E402
from audiokit.datadir import DataDir  # noqa: E402


def _job(a):
    split, i, text, out = a
    torch.set_num_threads(1)
    spk, voice, pitch = SPEAKERS["train"][i % len(SPEAKERS["train"])]
    rng = np.random.default_rng([7, 0 if split == "train" else 1, i])
    wav = _speak(text, voice, rng, pitch)
    utt = f"{spk}_{split}{i:05d}"
    path = Path(out) / "wav" / f"{utt}.wav"
    save(path, torch.from_numpy(wav.astype(np.float32)), SYNTH_SR)
    return utt, spk, text, str(path.resolve()), wav.size / SYNTH_SR


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--train", required=True, help="sentences, one per line")
    ap.add_argument("--dev", default=None, help="sentences for the dev split (default: the last --n-dev of --train)")
    ap.add_argument("--n-train", type=int, default=0, help="first N training sentences (0: all)")
    ap.add_argument("--n-dev", type=int, default=6)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    def read(f):
        texts = [t.strip() for t in open(f, encoding="utf-8") if t.strip()]
        if not texts:
            sys.exit(f"espeak_corpus: {f} has no sentences")
        return texts
    train = read(a.train)
    if a.dev:
        dev = read(a.dev)[:a.n_dev]
    else:
        if len(train) <= a.n_dev:
            sys.exit(f"espeak_corpus: {a.train} has {len(train)} sentences, not more than --n-dev {a.n_dev}")
        train, dev = train[:len(train) - a.n_dev], train[len(train) - a.n_dev:]
    train = train[:a.n_train] if a.n_train else train
    tasks = [("train", i, t, str(a.out)) for i, t in enumerate(train)]
    tasks += [("dev", i, t, str(a.out)) for i, t in enumerate(dev)]
    with mp.Pool(a.jobs) as pool:
        rows = pool.map(_job, tasks, chunksize=16)
    for split in ("train", "dev"):
        sel = sorted(r for t, r in zip(tasks, rows) if t[0] == split)
        DataDir.write(a.out / split, wav_scp={u: p for u, _, _, p, _ in sel}, text={u: t for u, _, t, _, _ in sel},
                      utt2spk={u: s for u, s, _, _, _ in sel})
        print(f"{split}: {len(sel)} utterances, {sum(r[4] for r in sel) / 3600:.2f} h")


if __name__ == "__main__":
    main()
