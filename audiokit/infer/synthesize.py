"""Text to speech with a trained acoustic model and vocoder (``audiokit synthesize``).

    audiokit synthesize "Any text, even 123 numbers." -o out.wav --model exp/tts --vocoder exp/voc
    audiokit synthesize --text-file sentences.txt -o out_dir --model ... --vocoder ...
    audiokit synthesize --text-file data/test -o out_dir ...     # a data directory's text (ids kept)
    audiokit synthesize "..." -o out.wav --model exp/lina_adapted ...  # written by `audiokit adapt`

Text -> the model's own front-end (``frontend`` of its ``config.yaml``: normalisation,
eSpeak NG phonemes or characters) -> its symbol table -> the acoustic model's log-mel ->
the vocoder -> waveform at the vocoder's rate. The two models' mel settings are compared when
they are loaded; a mismatch is an error naming the settings that differ. With ``--text-file``
the outputs are ``DIR/wavs/<utt>.wav``, ``DIR/wav.scp`` and ``DIR/text`` (the input
sentences, so ``audiokit score --ref DIR --est DIR --metrics wer`` scores the synthesis
against its own text); a sentence that fails (nothing speakable, symbols the model was not
trained with) is listed in ``DIR/failures.txt`` and the rest go on.

``--model`` takes a trained model directory or an adapted one (``adapted.yaml`` + initial
states, :mod:`audiokit.tts.adapt`): the base model it names is loaded with the states
installed, and its front-end and symbols are the base model's.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import warnings
from pathlib import Path

import torch
from tqdm import tqdm

from audiokit.audio import AudioError, save
from audiokit.datadir import DataDir, DataDirError, write_table
from audiokit.infer.jobs import report, write_results

__all__ = ["NoModelError", "load_tts", "load_vocoder", "Synthesizer", "add_arguments", "run"]

HOW_TO_TRAIN = {
    "acoustic model": "egs/mini/tts/run.sh (CPU, about 15 minutes, eSpeak NG speech) or egs/ljspeech/tts/run.sh "
                      "(LJSpeech, GPU); pass its exp/<tag> directory",
    "vocoder": "egs/mini/voc/run.sh (CPU, a few minutes) or egs/ljspeech/voc/run.sh (LJSpeech, GPU); "
               "pass its exp/<tag> directory",
}
DEFAULT_FRONTEND = {"type": "espeak", "language": "en-us"}


class NoModelError(ValueError):
    """No usable model directory was given; the message says how to train one."""


def _load(directory, what: str, device):
    from audiokit.registry import ModelDirError, load_model
    from audiokit.tts.adapt import is_adapted, load_adapted

    if not directory:
        raise NoModelError(f"no {what} given (--{'model' if what == 'acoustic model' else 'vocoder'} DIR). "
                           f"Train one with {HOW_TO_TRAIN[what]}.")
    adapted = what == "acoustic model" and is_adapted(directory)
    if not adapted and not (Path(directory) / "config.yaml").is_file():
        raise NoModelError(f"{directory}: no trained {what} there (no config.yaml). Train one with {HOW_TO_TRAIN[what]}.")
    try:
        # an adapted directory: its base model with the tuned initial states (AdaptError, a
        # ValueError, names a missing base or weights that changed since)
        return load_adapted(directory, map_location=device) if adapted else load_model(directory, map_location=device)
    except ModelDirError as e:
        raise NoModelError(f"{e}. Train a {what} with {HOW_TO_TRAIN[what]}.") from None


def load_tts(directory, device="cpu"):
    """Acoustic model, its symbol table and its front-end config from a model directory or an
    adapted one (written by ``audiokit adapt``)."""
    from audiokit.text import SymbolTable

    model = _load(directory, "acoustic model", device)
    if not hasattr(model, "synthesize"):
        raise NoModelError(f"{directory}: {type(model).__name__} is not a TTS acoustic model. "
                           f"Train one with {HOW_TO_TRAIN['acoustic model']}.")
    table = getattr(model, "symbols", None)
    if table is None and model.config["model"].get("symbols"):
        table = SymbolTable.from_dict(model.config["model"]["symbols"])
    if table is None:
        raise NoModelError(f"{directory}: the model carries no symbol table (config model.symbols); "
                           "it cannot read text")
    return model, table, dict(model.config.get("frontend") or DEFAULT_FRONTEND)


def load_vocoder(directory, device="cpu"):
    voc = _load(directory, "vocoder", device)
    if not hasattr(voc, "mel_settings") or hasattr(voc, "synthesize"):
        raise NoModelError(f"{directory}: {type(voc).__name__} is not a vocoder. Train one with {HOW_TO_TRAIN['vocoder']}.")
    if hasattr(voc, "remove_weight_norm"):
        voc.remove_weight_norm()
    return voc


class Synthesizer:
    """Text -> waveform with a loaded acoustic model and vocoder (checked against each other).

    ``options`` go to the acoustic model's ``synthesize`` where it takes them (``steps``,
    ``temperature``, ``speed``, ``generator``); ``vocoder_steps`` to a PeriodWave vocoder.
    """

    def __init__(self, model, table, frontend_cfg: dict, vocoder, *, device="cpu", vocoder_steps=None, **options):
        from audiokit.infer.vocode import check_mel_settings
        from audiokit.text import build_frontend

        check_mel_settings(vocoder.mel_settings, dict(model.mel_settings), "acoustic model output")
        self.model, self.table, self.vocoder, self.device = model, table, vocoder, device
        self.frontend = build_frontend(frontend_cfg)
        accepted = inspect.signature(model.synthesize).parameters
        self.options = {k: v for k, v in options.items() if v is not None and k in accepted}
        self.vocoder_steps = vocoder_steps
        self.sample_rate = vocoder.mel_settings["sample_rate"]

    def tokens(self, text: str) -> list[int]:
        """Ids of ``text``; raises a ValueError (TextError, UnknownSymbolError) naming the problem."""
        res = self.frontend.process(text)
        for p in res.problems:
            warnings.warn(p, stacklevel=2)
        return self.table.encode(res.tokens)

    @torch.no_grad()
    def __call__(self, token_lists: list[list[int]]) -> list[torch.Tensor]:
        """Waveforms [T] (CPU, float32) for a batch of token id lists."""
        from audiokit.infer.vocode import vocode_mels

        lengths = torch.tensor([len(t) for t in token_lists])
        tokens = torch.zeros(len(token_lists), int(lengths.max()), dtype=torch.long)
        for i, t in enumerate(token_lists):
            tokens[i, : len(t)] = torch.tensor(t)
        mel, mel_lengths = self.model.synthesize(tokens.to(self.device), lengths.to(self.device), **self.options)
        mels = [mel[i, :, : int(n)].float().cpu() for i, n in enumerate(mel_lengths)]
        return vocode_mels(self.vocoder, mels, steps=self.vocoder_steps, device=self.device)


def _read_sentences(path: Path) -> dict[str, str]:
    if path.is_dir():
        d = DataDir(path)
        if not d.has("text"):
            raise DataDirError(f"{path}: a data directory given to --text-file needs a 'text' table")
        return d.table("text")
    if not path.is_file():
        raise DataDirError(f"{path}: no such file")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise DataDirError(f"{path}: no sentences (one per line expected)")
    return {f"utt{i:04d}": s for i, s in enumerate(lines, 1)}


def synthesize_texts(synth: Synthesizer, sentences: dict[str, str], out_dir: Path, *, batch_size: int = 8,
                     progress: bool = True) -> dict[str, str]:
    """Write ``out_dir/{wavs/<utt>.wav, wav.scp, text}``; return ``{utt: error}`` for the failures."""
    failures: dict[str, str] = {}
    ready: list[tuple[str, list[int]]] = []
    for utt, text in sentences.items():
        try:
            ready.append((utt, synth.tokens(text)))
        except ValueError as e:
            failures[utt] = str(e)
    ready.sort(key=lambda x: len(x[1]))           # similar lengths together: less padding
    done: dict[str, str] = {}
    bar = tqdm(total=len(ready), desc="synthesize", disable=not progress, dynamic_ncols=True)
    for start in range(0, len(ready), max(1, batch_size)):
        group = ready[start:start + max(1, batch_size)]
        try:
            wavs = synth([t for _, t in group])
        except (ValueError, RuntimeError) as e:
            for utt, _ in group:
                failures[utt] = f"{type(e).__name__}: {e}"
            bar.update(len(group))
            continue
        for (utt, _), wav in zip(group, wavs):
            try:
                dst = out_dir / "wavs" / f"{utt}.wav"
                save(dst, wav.clamp(-1.0, 1.0), synth.sample_rate)
                done[utt] = str(dst.relative_to(out_dir))
            except (AudioError, OSError) as e:
                failures[utt] = str(e)
        bar.update(len(group))
    bar.close()
    write_results(out_dir, done, failures)
    if done:
        write_table(out_dir / "text", {u: sentences[u] for u in done})
    return failures


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", nargs="?", default=None, help="the text to speak (or use --text-file)")
    p.add_argument("-o", "--out", required=True,
                   help="output .wav for TEXT; output folder (wavs/, wav.scp, text) for --text-file")
    p.add_argument("--text-file", default=None,
                   help="one sentence per line, or a data directory (its 'text' table, utterance ids kept)")
    p.add_argument("--model", default=None, help="trained acoustic model directory (config.yaml + model.safetensors), "
                   "or an adapted one written by `audiokit adapt`")
    p.add_argument("--vocoder", default=None, help="trained vocoder directory")
    p.add_argument("--steps", type=int, default=None, help="flow-matching decoder steps (default: the model's, 10)")
    p.add_argument("--temperature", type=float, default=None, help="noise scale of the decoder (default 0.667)")
    p.add_argument("--speed", type=float, default=None, help="speaking rate factor, > 1 faster (default 1)")
    p.add_argument("--vocoder-steps", type=int, default=None, help="ODE steps of a PeriodWave vocoder")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the decoder noise and of the autoregressive pre-net's dropout (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=8, help="sentences per forward pass (default: %(default)s)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default: cuda if available)")


def run(args: argparse.Namespace) -> int:
    from audiokit.infer.vocode import MelMismatchError
    from audiokit.registry import ModelDirError

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    try:
        if (args.text is None) == (args.text_file is None):
            raise ValueError("give either TEXT or --text-file FILE (not both)")
        for name in ("steps", "vocoder_steps", "batch_size"):
            v = getattr(args, name)
            if v is not None and v < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be a positive integer, got {v}")
        if args.speed is not None and not args.speed > 0:
            raise ValueError(f"--speed must be positive, got {args.speed}")
        if args.temperature is not None and not args.temperature >= 0:
            raise ValueError(f"--temperature must be >= 0, got {args.temperature}")
        model, table, frontend_cfg = load_tts(args.model, device)
        vocoder = load_vocoder(args.vocoder, device)
        gen = torch.Generator(device=device).manual_seed(args.seed)
        torch.manual_seed(args.seed)   # autoregressive models draw their pre-net dropout from the global RNG
        synth = Synthesizer(model, table, frontend_cfg, vocoder, device=device, vocoder_steps=args.vocoder_steps,
                            steps=args.steps, temperature=args.temperature, speed=args.speed, generator=gen)
        sentences = _read_sentences(Path(args.text_file)) if args.text_file else None
    except (NoModelError, ModelDirError, MelMismatchError, DataDirError, ValueError) as e:
        print(f"audiokit synthesize: {e}", file=sys.stderr)
        return 2
    if sentences is None:
        out = Path(args.out)
        try:
            wav = synth([synth.tokens(args.text)])[0]
            save(out, wav.clamp(-1.0, 1.0), synth.sample_rate)
        except (ValueError, RuntimeError, AudioError, OSError) as e:
            print(f"audiokit synthesize: {e}", file=sys.stderr)
            return 1
        print(f"wrote {out} ({wav.numel() / synth.sample_rate:.2f} s at {synth.sample_rate} Hz)", file=sys.stderr)
        return 0
    out = Path(args.out)
    failures = synthesize_texts(synth, sentences, out, batch_size=args.batch_size)
    return report("synthesized", len(sentences), failures, out, "sentences")
