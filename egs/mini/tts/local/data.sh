#!/usr/bin/env bash
# A single-speaker corpus at 22.05 kHz (deterministic): tools/make_mini_corpus.py with one
# eSpeak NG voice for every split (sentences disjoint between train, dev and test), whose
# clean speech (spk1.scp) becomes the recordings (wav.scp) beside the transcripts (text).
# The noisy mixtures the generator also writes are not used.
#   local/data.sh [--voice en-us+m1] [make_mini_corpus.py options]
set -euo pipefail
[ -f data/test/wav.scp ] && [ -f data/.tts_done ] && { echo "data/ already generated"; exit 0; }
"$PYTHON" "$AUDIOKIT_ROOT/tools/make_mini_corpus.py" data --sample-rate 22050 --seed 0 "$@"
for s in train dev test; do
  cp data/$s/spk1.scp data/$s/wav.scp
  rm -f data/$s/utt2snr data/$s/utt2noise
done
touch data/.tts_done
