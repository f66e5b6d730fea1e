#!/usr/bin/env bash
# Mini TTS recipe: runs end to end on a CPU in about 15 minutes with no download.
# One eSpeak NG voice (en-us+m1) reads 300 training utterances (about 14 minutes of speech,
# tools/make_mini_corpus.py --voice) at 22.05 kHz; a small FastSpeech with MAS durations and
# the Matcha-TTS flow-matching decoder is trained, a tiny vocoder is trained on the same
# recordings (or give --vocoder DIR), the 10 held-out test sentences are synthesized and
# scored against the recordings (mel-cepstral distortion, F0 RMSE, and the WER/CER of a
# recogniser, also on the recordings themselves). The output is speech-like, not of
# publishable quality.
#   ./run.sh [--stage N] [--stop_stage M] [--models fastspeech_mini_softmax] [--vocoder DIR]
#   ./run.sh --models "fastspeech_mini_softmax fastspeech_mini_linear fastspeech_mini_gla fastspeech_mini_wersa"
set -euo pipefail
cd "$(dirname "$0")"

models=fastspeech_mini_linear
optim=fastspeech
train_set=train
valid_set=dev
test_sets=test
# lr 1e-3 instead of Matcha's 1e-4 because the run is short.
train_opts="trainer.max_steps=1500 trainer.batch_size=8 trainer.num_workers=1 trainer.log_every=100 \
trainer.valid_every=500 trainer.save_every=500 optim.model.lr=1e-3 data.max_valid=5"
vocoder=
voc_task=periodwave
voc_model=periodwave_tiny
voc_optim=periodwave
voc_opts="trainer.max_steps=1500 trainer.batch_size=4 trainer.num_workers=1 data.segment=8192 \
trainer.log_every=200 trainer.valid_every=1500 trainer.save_every=500 data.max_valid=2 valid_steps=4 \
optim.generator.lr=1e-3"
synth_opts="--steps 10 --temperature 0.667 --vocoder-steps 4"
metrics=mcd,f0_rmse,wer,cer
ref_metrics=wer,cer
data_opts="--voice en-us+m1 --n-train 300 --n-dev 5 --n-test 10"
score_jobs=2

. ../../../tools/recipe.sh
. ../../../recipes/tts/stages.sh
