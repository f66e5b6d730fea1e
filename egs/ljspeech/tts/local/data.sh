#!/usr/bin/env bash
# Data directories train/dev/test (wav.scp, text, utt2spk) from LJSpeech's metadata.csv and
# wavs/*.wav|*.flac: the vocoder recipe's preparation (same split: sorted ids, the last
# --n-test clips test, the --n-dev before them dev), whose text is the normalised column.
set -euo pipefail
"$PYTHON" ../voc/local/data.py "$@"
