#!/usr/bin/env bash
# LJSpeech-1.1 TTS (Ito & Johnson 2017; 13,100 clips of one speaker, 22.05 kHz): FastSpeech
# with MAS durations and the Matcha-TTS flow-matching decoder at Matcha's size (stage 1),
# synthesis of the test sentences with a trained vocoder (stage 3) and scores against the
# recordings: MCD, F0 RMSE, WER/CER of the recogniser (also on the recordings themselves).
# Published anchor (Matcha-TTS, 18.2M parameters, 10 steps): MOS 3.84, WER 2.09 %.
# The vocoder comes from egs/ljspeech/voc (train it first) or --vocoder DIR.
#   ./run.sh --stage -1                                   # with internet: fetch LJSpeech-1.1
#   ./run.sh --corpus /path/to/LJSpeech-1.1 --vocoder ../voc/exp/periodwave_b_turbo [--ngpu 2]
#   ./run.sh --corpus ../../../../shared/data/ljspeech_subset --data_opts "--n-dev 10 --n-test 40"
set -euo pipefail
cd "$(dirname "$0")"

corpus=downloads/LJSpeech-1.1
models=fastspeech_full
optim=fastspeech
train_set=train
valid_set=dev
test_sets=test
train_opts=                      # recipes/tts/conf defaults: batch 32, Adam 1e-4
vocoder=../voc/exp/periodwave_b_turbo
voc_task=periodwave              # used only with --vocoder "": stage 2 trains this one here
voc_model=periodwave_b
voc_optim=periodwave
voc_opts=
synth_opts="--steps 10 --temperature 0.667"
metrics=mcd,f0_rmse,wer,cer
ref_metrics=wer,cer
data_opts=
score_jobs=8

. ../../../tools/recipe.sh
data_opts="--root $corpus --out data $data_opts"
download_opts=$(dirname "$corpus")
. ../../../recipes/tts/stages.sh
