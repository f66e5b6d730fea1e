#!/usr/bin/env bash
# Generate the mini corpus (deterministic) into data/{train,dev,test}.
set -euo pipefail
[ -f data/test/spk1.scp ] && { echo "data/ already generated"; exit 0; }
"$PYTHON" "$AUDIOKIT_ROOT/tools/make_mini_corpus.py" data --sample-rate 16000 --seed 0 "$@"
