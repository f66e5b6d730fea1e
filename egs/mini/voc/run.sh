#!/usr/bin/env bash
# Mini vocoder recipe: runs end to end on a CPU in a few minutes with no download.
# Speech is synthesised with eSpeak NG at 22.05 kHz (tools/make_mini_corpus.py's clean
# references: six voices for training, one unseen voice each for dev and test); a small
# vocoder is trained for a few minutes, the test set is copy-synthesised (recording -> mel
# -> waveform) and scored against the recordings. The output is speech-like, not of
# publishable quality.
#   --task hifigan (default): HiFi-GAN (generator, MPD + MSD, the published losses and
#     weights) at a small size, recipes/vocoder/conf/model/hifigan_mini.yaml with narrow
#     discriminators, after a short mel-L1-only warm-up of the generator.
#   --task periodwave: a tiny PeriodWave (periodwave_tiny). At this CPU budget its estimator
#     is still near its starting noise (BENCHMARKS.md): it shows the pipeline, not speech.
#   ./run.sh [--stage N] [--stop_stage M] [--task hifigan|periodwave] [--model CONFIG] [--train_opts "..."]
set -euo pipefail
cd "$(dirname "$0")"

task=hifigan            # hifigan | periodwave
model=                  # empty: the task's mini config (hifigan_mini | periodwave_tiny)
optim=
exp_tag=
train_set=train
valid_set=dev
test_sets=test
# Each task's settings come first; train_opts / vocode_opts are added after them (for Hydra
# and argparse the later value wins). hifigan_mini's own file documents its sizes.
# HiFi-GAN: 4.5 minutes of training (the step count a machine reaches in them varies), the
# first 2000 steps mel-L1 only (conf/hifigan/mini.yaml); generator lr 1e-3 instead of the
# paper's 2e-4 because the run is short (measured: dev PESQ after 1000 warm-up steps 1.15 vs 1.10).
# The lr decay "epoch" is 200 clips / batch 4.
hifigan_opts="hifigan=mini trainer.max_steps=4000 trainer.max_minutes=4.5 trainer.batch_size=4 trainer.num_workers=1 \
data.segment=8192 trainer.log_every=100 trainer.valid_every=1000 trainer.save_every=1000 data.max_valid=2 \
optim.generator.lr=1e-3 optim.generator.schedule.every=50 optim.discriminator.schedule.every=50"
# PeriodWave: about 4 minutes; lr 1e-3 instead of the paper's 2e-4 because the run is short.
periodwave_opts="trainer.max_steps=2000 trainer.batch_size=4 trainer.num_workers=1 data.segment=8192 \
trainer.log_every=200 trainer.valid_every=1000 trainer.save_every=500 data.max_valid=2 valid_steps=4 \
optim.generator.lr=1e-3"
train_opts=
hifigan_vocode_opts="--batch-size 4"
periodwave_vocode_opts="--batch-size 4 --steps 4"   # 4 midpoint steps: CPU time; the paper uses 16
vocode_opts=
turbo=false
turbo_opts=
metrics=mstft,mel_l1,pesq_wb,stoi
data_opts="--n-train 200 --n-dev 4 --n-test 10"
score_jobs=2

. ../../../tools/recipe.sh

case "$task" in
  hifigan) model=${model:-hifigan_mini} ;;
  periodwave) model=${model:-periodwave_tiny} ;;
  *) echo "$0: --task must be hifigan or periodwave, got '$task'" >&2; exit 2 ;;
esac
_opts=${task}_opts _vopts=${task}_vocode_opts
train_opts="${!_opts} $train_opts"
vocode_opts="${!_vopts} $vocode_opts"

. ../../../recipes/vocoder/stages.sh
