"""Diagnostic: does an autoregressive model read the text? Teacher-forced on training sentences, the
weights with which each decoder step reads the text: the correlation of their argmax with the step
index (about 1 when the model walks through the text, about 0 when it ignores it) and their mean
maximum (1/T for uniform weights). Lina: the cross block's second attention (``prefill``'s ``attn``);
Transformer-TTS: every source-attention head of every decoder layer, one line each.

  local/text_attention.py exp/lina_mini_multi_ga [more model dirs] [--data data/multi/train --n 8]
"""
import argparse

import numpy as np
import torch

from audiokit.registry import load_model
from audiokit.tts.data import TTSDataset, collate


def weights(m, b):
    """{label: [B, N, T]} text-attention weights, teacher-forced on batch b."""
    with torch.no_grad():
        memory, mask = m.encode(b["tokens"], b["token_lengths"])
        x = m.head.inputs(m.normalize(b["mel"], b["mel_lengths"]))
        if hasattr(m, "decoder"):     # Transformer-TTS: ask _run for every layer and head
            m.ga = dict(m.ga, layers=len(m.decoder), heads=10 ** 6)
            _, ws, _ = m._run(memory, mask, x, True)
            return {f"layer {i} head {h}": w[:, h] for i, w in enumerate(ws) for h in range(w.shape[1])}
        _, cache = m.prefill(memory, mask, x)
        return {"cross": cache["attn"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--data", default="data/multi/train")
    ap.add_argument("--n", type=int, default=8, help="sentences (every 5th of the data directory)")
    args = ap.parse_args()
    for d in args.models:
        m = load_model(d).eval()
        m.head.prenet.always_dropout = False          # deterministic inputs
        ds = TTSDataset(args.data, m.config["frontend"], m.config["model"]["symbols"], m.mel_settings,
                        on_error="skip")
        b = collate([ds[i] for i in range(0, 5 * args.n, 5)])
        for label, w in weights(m, b).items():
            corr, peak = [], []
            for i in range(w.shape[0]):
                T, G = int(b["token_lengths"][i]), int(-(-b["mel_lengths"][i] // m.head.r))
                a = w[i, :G, :T].numpy()
                corr.append(np.corrcoef(np.arange(G), a.argmax(1))[0, 1])
                peak.append(a.max(1).mean())
            print(f"{d} {label}: argmax-vs-step correlation {np.mean(corr):.2f}, mean max weight {np.mean(peak):.2f}")


if __name__ == "__main__":
    main()
