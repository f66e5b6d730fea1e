#!/usr/bin/env bash
# Bring your own corpus: train an enhancer from any folder of clean speech and any folder of
# noise recordings (any rate, wav/flac/ogg; per-speaker sub-folders give a split by speaker).
# Training mixes speech and noise on the fly at a random SNR; dev/test are fixed mixtures.
#   ./run.sh --clean /path/to/speech --noise /path/to/noise [--model mpsenet] [--ngpu 2]
set -euo pipefail
cd "$(dirname "$0")"

clean=
noise=
model=mpsenet
exp_tag=
train_set=train
valid_set=dev
test_sets=test
dev_fraction=0.05
test_fraction=0.05
snr_low=-5
snr_high=15
train_opts=
metrics=pesq_wb,pesq_nb,stoi,estoi,si_sdr,sdr,ssnr,csig,cbak,covl

enhance_opts=   # e.g. "--bf16 --chunk-seconds 20"
score_jobs=2

. ../../../tools/recipe.sh
if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ] && { [ -z "$clean" ] || [ -z "$noise" ]; }; then
  echo "$0: stage 0 needs --clean DIR and --noise DIR" >&2; exit 2
fi
data_opts="--clean $clean --noise $noise --out data --snr-range $snr_low $snr_high \
  --dev-fraction $dev_fraction --test-fraction $test_fraction"
train_opts="data.noise=data/train_noise data.snr_range=[$snr_low,$snr_high] $train_opts"
. ../../../recipes/enh/stages.sh
