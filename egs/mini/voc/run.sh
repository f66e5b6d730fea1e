#!/usr/bin/env bash
# Mini vocoder recipe: runs end to end on a CPU in a few minutes with no download.
# Speech is synthesised with eSpeak NG at 22.05 kHz (tools/make_mini_corpus.py's clean
# references: six voices for training, one unseen voice each for dev and test); a tiny
# PeriodWave is trained for a few hundred steps, the test set is copy-synthesised
# (recording -> mel -> waveform) and scored against the recordings. The output is
# speech-like, not of publishable quality.
#   ./run.sh [--stage N] [--stop_stage M] [--model periodwave_tiny] [--train_opts "..."]
#   ./run.sh --task hifigan --model hifigan_mini --train_opts "data.segment=8192 ..."
set -euo pipefail
cd "$(dirname "$0")"

task=periodwave
model=periodwave_tiny
optim=
exp_tag=
train_set=train
valid_set=dev
test_sets=test
# About 4 minutes on 2 CPU cores; lr 1e-3 instead of the paper's 2e-4 because the run is short.
train_opts="trainer.max_steps=2000 trainer.batch_size=4 trainer.num_workers=1 data.segment=8192 \
trainer.log_every=200 trainer.valid_every=1000 trainer.save_every=500 data.max_valid=2 valid_steps=4 \
optim.generator.lr=1e-3"
turbo=false
turbo_opts=
vocode_opts="--batch-size 4 --steps 4"   # 4 midpoint steps: CPU time; the paper uses 16
metrics=mstft,mel_l1,pesq_wb,stoi
data_opts="--n-train 200 --n-dev 4 --n-test 10"
score_jobs=2

. ../../../tools/recipe.sh
. ../../../recipes/vocoder/stages.sh
