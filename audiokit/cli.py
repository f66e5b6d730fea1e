"""The ``audiokit`` command: parse arguments, then hand over to a runner.

Each subcommand lives in the module that implements it; the module provides
``add_arguments(parser)`` and ``run(args) -> int``. Only the chosen subcommand's
module is imported, so ``audiokit score`` does not pay for the TTS stack.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = {
    "score": ("audiokit.metrics.score", "score estimates against references (PESQ, STOI, SI-SDR, ...)"),
    "enhance": ("audiokit.infer.enhance", "enhance noisy files, folders or data directories with a trained model"),
    "vocode": ("audiokit.infer.vocode", "turn mels or recordings (copy-synthesis) into waveforms with a trained vocoder"),
    "synthesize": ("audiokit.infer.synthesize", "text to speech with a trained acoustic model and vocoder"),
    "adapt": ("audiokit.tts.adapt", "adapt an autoregressive TTS model to a new voice by tuning its initial states"),
}


def _parser(selected: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="audiokit", description="Speech enhancement, synthesis and evaluation.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_, description=help_)
        if name == selected:
            importlib.import_module(module).add_arguments(sp)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((a for a in argv if not a.startswith("-")), None)
    if selected not in SUBCOMMANDS:
        selected = None
    args = _parser(selected).parse_args(argv)
    if args.command is None:
        _parser(None).print_help()
        return 2
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
