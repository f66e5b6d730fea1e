"""Synthesize sentences with a trained acoustic model and vocoder: the runner of ``audiokit synthesize``.

    python recipes/tts/infer.py --text-file data/test -o exp/fastspeech/synth/test \
        --model exp/fastspeech --vocoder ../voc/exp/periodwave_b [--steps 10] [--temperature 0.667]

Same arguments as ``audiokit synthesize`` (see :mod:`audiokit.infer.synthesize`).
"""

import argparse
import sys

from audiokit.infer import synthesize


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    synthesize.add_arguments(p)
    return synthesize.run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
