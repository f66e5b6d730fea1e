#!/usr/bin/env bash
# LJSpeech-1.1 vocoders (Ito & Johnson 2017; 13,100 clips of one speaker, 22.05 kHz):
# PeriodWave (stage 1), PeriodWave-Turbo fine-tuned from it (stage 2), copy-synthesis of
# the test set with both (stage 3) and scores against the recordings (stage 4).
# Published anchors (PESQ-wb, copy-synthesis): HiFi-GAN V1 3.646, PeriodWave 4.288,
# PeriodWave-Turbo 4.418.
#   ./run.sh --stage -1                                   # with internet: fetch LJSpeech-1.1
#   ./run.sh --corpus /path/to/LJSpeech-1.1 [--ngpu 2]
#   ./run.sh --corpus ../../../../shared/data/ljspeech_subset --data_opts "--n-dev 10 --n-test 40"
# Split (local/data.py): utterances sorted by id; the last n_test (100) are the test set,
# the n_dev (100) before them the dev set, the rest train.
set -euo pipefail
cd "$(dirname "$0")"

corpus=downloads/LJSpeech-1.1
task=periodwave
model=periodwave_b
optim=periodwave
exp_tag=
train_set=train
valid_set=dev
test_sets=test
# PeriodWave: batch 32 x 32768 samples, 1M steps (the authors' config).
train_opts="trainer.max_steps=1000000"
turbo=true
# PeriodWave-Turbo: batch 8 x 32768 samples, 4 fixed Euler steps.
turbo_opts="trainer.batch_size=8 turbo.steps=4 trainer.max_steps=100000"
vocode_opts="--batch-size 8"
metrics=mstft,mel_l1,pesq_wb,periodicity,vuv_f1,pitch_rmse,stoi
data_opts=
score_jobs=8

. ../../../tools/recipe.sh
data_opts="--root $corpus --out data $data_opts"
download_opts=$(dirname "$corpus")
. ../../../recipes/vocoder/stages.sh
