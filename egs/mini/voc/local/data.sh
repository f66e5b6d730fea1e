#!/usr/bin/env bash
# Generate the mini corpus at 22.05 kHz (deterministic) into data/{train,dev,test} and make
# the clean speech (spk1.scp) the vocoder's recordings (wav.scp); the noisy mixtures and
# noise tables the generator also writes are not used.
set -euo pipefail
[ -f data/test/wav.scp ] && [ -f data/.voc_done ] && { echo "data/ already generated"; exit 0; }
"$PYTHON" "$AUDIOKIT_ROOT/tools/make_mini_corpus.py" data --sample-rate 22050 --seed 0 "$@"
for s in train dev test; do
  cp data/$s/spk1.scp data/$s/wav.scp
  rm -f data/$s/utt2snr data/$s/utt2noise
done
touch data/.voc_done
