#!/usr/bin/env bash
# VoiceBank+DEMAND (Valentini-Botinhao et al. 2016): 28 speakers for training, 824 test
# utterances, 48 kHz resampled to 16 kHz. Published anchor: MP-SENet PESQ 3.50 (3.60 for
# the long-trained version).
#   ./run.sh --stage -1 --corpus downloads   # with internet: fetch and unpack the corpus
#   ./run.sh --corpus /path/to/VoiceBank-DEMAND [--ngpu 2]
set -euo pipefail
cd "$(dirname "$0")"

corpus=downloads
model=mpsenet
exp_tag=
train_set=train
valid_set=dev
test_sets=test
# MP-SENet: batch 4, 2 s segments, lr x0.99 per epoch (11572 utterances / 4 = 2893 steps).
train_opts="trainer.max_steps=290000"
metrics=pesq_wb,pesq_nb,stoi,estoi,si_sdr,sdr,ssnr,csig,cbak,covl
score_jobs=8

enhance_opts=   # e.g. "--bf16 --chunk-seconds 20"

. ../../../tools/recipe.sh
data_opts="--root $corpus --out data"
download_opts=$corpus
. ../../../recipes/enh/stages.sh
