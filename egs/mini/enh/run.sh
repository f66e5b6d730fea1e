#!/usr/bin/env bash
# Mini enhancement recipe: runs end to end on a CPU in about 10 minutes with no download.
# Clean speech is synthesised with eSpeak NG (several voices as speakers), noise is made
# procedurally, both are mixed at -5..15 dB (tools/make_mini_corpus.py); a small MP-SENet
# configuration is trained, the test set enhanced and scored against the noisy input.
#   ./run.sh [--stage N] [--stop_stage M] [--ngpu K] [--model mpsenet_mini] [--train_opts "..."]
set -euo pipefail
cd "$(dirname "$0")"

model=mpsenet_mini
exp_tag=
train_set=train
valid_set=dev
test_sets=test
# Small on purpose: about 6 minutes of training on 2 CPU cores.
train_opts="trainer.max_steps=400 trainer.batch_size=4 trainer.num_workers=1 data.segment=1.0 \
trainer.log_every=50 trainer.valid_every=200 trainer.save_every=200 data.max_valid=30 pesq_workers=2 \
optim.generator.schedule.every=100 optim.discriminator.schedule.every=100"
metrics=pesq_wb,pesq_nb,stoi,estoi,si_sdr,sdr,ssnr,csig,cbak,covl
data_opts=

enhance_opts=   # e.g. "--bf16 --chunk-seconds 20"
score_jobs=2

. ../../../tools/recipe.sh
. ../../../recipes/enh/stages.sh
