#!/usr/bin/env bash
# VB-DemandEx (Kühne et al. 2025, arXiv 2507.00966): VoiceBank speech + every DEMAND
# environment, babble and speech-shaped noise at -10..20 dB, rebuilt deterministically
# from the sources (local/data.py says how, and why the SNR grid is not confirmed against the
# paper; --data_opts "--snrs ..." changes it). Validation uses two TRAINING speakers, never
# the test set. Published anchor (MambAttention): PESQ 3.03, SSNR 7.67, ESTOI 0.80,
# SI-SDR 16.68. The trained model is then scored out of domain by egs/dns2020/enh and
# egs/ears_wham/enh (--model_dir exp/<tag>).
#   ./run.sh --stage -1 --corpus downloads   # with internet: fetch VoiceBank (clean) and DEMAND
#   ./run.sh --corpus downloads [--model mambattention] [--ngpu 4]
set -euo pipefail
cd "$(dirname "$0")"

corpus=downloads
seed=0
model=mpsenet
exp_tag=
train_set=train
valid_set=dev
test_sets=test
train_opts=
metrics=pesq_wb,pesq_nb,stoi,estoi,si_sdr,sdr,ssnr,csig,cbak,covl
score_jobs=8
enhance_opts=
data_opts=      # more options for local/data.py, e.g. "--snrs -10 -5 0 5 10 15 20"

. ../../../tools/recipe.sh
data_opts="--voicebank $corpus --demand $corpus/DEMAND --out data --seed $seed $data_opts"
download_opts=$corpus
. ../../../recipes/enh/stages.sh
