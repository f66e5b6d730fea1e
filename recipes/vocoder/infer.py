"""Vocode with a trained vocoder: the recipes' stage 3 (copy-synthesis of a test set).

    python recipes/vocoder/infer.py data/test -o exp/periodwave_b/vocoded/test --model exp/periodwave_b
    python recipes/vocoder/infer.py mels/ -o out --model exp/periodwave_b_turbo --steps 2 --batch-size 8

The same runner, arguments and behaviour as ``audiokit vocode``
(:mod:`audiokit.infer.vocode`): inputs are audio files, folders, data directories or saved
mels; outputs ``OUT/wavs/<utt>.wav`` and ``OUT/wav.scp`` at the model's rate, failures in
``OUT/failures.txt``. Exit status 0 when every input was vocoded, 1 when some failed, 2 on
bad arguments or model.
"""

import argparse
import sys

from audiokit.infer import vocode


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    vocode.add_arguments(p)
    return vocode.run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
