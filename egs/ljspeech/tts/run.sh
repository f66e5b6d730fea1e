#!/usr/bin/env bash
# LJSpeech-1.1 TTS (Ito & Johnson 2017; 13,100 clips of one speaker, 22.05 kHz): an acoustic
# model at its published size (stage 1; --model fastspeech: FastSpeech with MAS durations and the
# Matcha-TTS flow-matching decoder at Matcha's size, config fastspeech_full; transformer_tts:
# Transformer-TTS as Li et al. 2019, Adam + Noam; lina: the Lina-style GLA decoder at the public
# code's LJSpeech size, AdamW + cosine), synthesis of the test sentences with a trained vocoder
# (stage 3) and scores against the recordings: MCD, F0 RMSE, WER/CER of the recogniser (also
# on the recordings themselves).
# Published anchor (Matcha-TTS, 18.2M parameters, 10 steps): MOS 3.84, WER 2.09 %.
# The vocoder comes from egs/ljspeech/voc (train it first) or --vocoder DIR.
#   ./run.sh --stage -1                                   # with internet: fetch LJSpeech-1.1
#   ./run.sh --corpus /path/to/LJSpeech-1.1 --vocoder ../voc/exp/periodwave_b_turbo [--ngpu 2]
#   ./run.sh --corpus ../../../../shared/data/ljspeech_subset --data_opts "--n-dev 10 --n-test 40"
#   ./run.sh --model lina --stage 1 ...                 # or --models "fastspeech_full lina" side by side
set -euo pipefail
cd "$(dirname "$0")"

corpus=downloads/LJSpeech-1.1
model=fastspeech                 # fastspeech | transformer_tts | lina: config fastspeech_full | <model>
models=                          # recipes/tts/conf/model names instead of --model (several: side by side)
optim=                           # empty: each model's own optimiser (recipes/tts/conf/optim)
train_set=train
valid_set=dev
test_sets=test
train_opts=                      # recipes/tts/conf defaults: batch 32 and the model's optimiser
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
if [ -z "$models" ]; then
  case $model in
    fastspeech) models=fastspeech_full ;;
    transformer_tts|lina) models=$model ;;
    *) echo "$0: --model must be fastspeech, transformer_tts or lina (or name configs with --models), got '$model'" >&2
       exit 2 ;;
  esac
fi
data_opts="--root $corpus --out data $data_opts"
download_opts=$(dirname "$corpus")
. ../../../recipes/tts/stages.sh
