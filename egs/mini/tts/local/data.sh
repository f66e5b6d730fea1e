#!/usr/bin/env bash
# Corpus at 22.05 kHz (deterministic) from tools/make_mini_corpus.py, whose clean speech
# (spk1.scp) becomes the recordings (wav.scp) beside the transcripts (text); the noisy
# mixtures the generator also writes are not used. With --voice, one eSpeak NG voice speaks
# every split (the single-speaker TTS corpus; sentences disjoint between train, dev and test);
# without it, the generator's speakers: 6 voices in train, another in dev, another in test.
#   local/data.sh [--out data] [--voice en-us+m1] [make_mini_corpus.py options]
set -euo pipefail
out=data
if [ "${1:-}" = "--out" ]; then out=$2; shift 2; fi
[ -f "$out/.tts_done" ] && { echo "$out/ already generated"; exit 0; }
"$PYTHON" "$AUDIOKIT_ROOT/tools/make_mini_corpus.py" "$out" --sample-rate 22050 --seed 0 "$@"
for s in train dev test; do
  [ -d "$out/$s" ] || continue          # a split asked with --n-<split> 0
  cp "$out/$s/spk1.scp" "$out/$s/wav.scp"
  rm -f "$out/$s/utt2snr" "$out/$s/utt2noise"
done
touch "$out/.tts_done"
