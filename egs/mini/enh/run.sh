#!/usr/bin/env bash
# Mini enhancement recipe: runs end to end on a CPU in about 15 minutes with no download.
# Clean speech is synthesised with eSpeak NG (several voices as speakers), noise is made
# procedurally, both are mixed at -5..15 dB (tools/make_mini_corpus.py); two enhancers are
# trained on it, a small MP-SENet and a small MambAttention, the test set is enhanced by each
# and scored, and stage 4 puts noisy, MP-SENet and MambAttention side by side
# (exp/RESULTS_<test set>.md).
#   ./run.sh [--stage N] [--stop_stage M] [--ngpu K] [--models "mpsenet_mini mambattention_mini"]
#            [--train_opts "overrides for every model"] [--mpsenet_mini_opts "..."] [--mambattention_mini_opts "..."]
set -euo pipefail
cd "$(dirname "$0")"

models="mpsenet_mini mambattention_mini"   # config names under recipes/enh/conf/model
train_set=train
valid_set=dev
test_sets=test
# Small on purpose. MP-SENet: about 8 minutes of training on 2 CPU cores (lr 1e-3 instead of
# the paper's 5e-4 because the run is short).
mpsenet_mini_opts="trainer.max_steps=360 trainer.batch_size=4 trainer.num_workers=1 data.segment=1.0 \
trainer.log_every=40 trainer.valid_every=180 trainer.save_every=180 data.max_valid=30 pesq_workers=2 \
optim.generator.lr=1e-3 optim.discriminator.lr=1e-3 \
optim.generator.schedule.every=90 optim.discriminator.schedule.every=90"
# MambAttention: its own optimiser and loss weights; the CPU selective scan makes a step many
# times dearer than MP-SENet's, so fewer steps on 0.5 s crops, capped at 3 minutes of training
# (the step count reached depends on the machine; train.log has it) and a smaller validation.
mambattention_mini_opts="optim=mambattention loss=mambattention trainer.max_steps=120 trainer.max_minutes=3 \
trainer.batch_size=4 trainer.num_workers=1 data.segment=0.5 \
trainer.log_every=10 trainer.valid_every=120 trainer.save_every=60 data.max_valid=10 pesq_workers=2 \
optim.generator.lr=1e-3 optim.discriminator.lr=1e-3 \
optim.generator.schedule.every=30 optim.discriminator.schedule.every=30"
train_opts=     # appended to every model's options
metrics=pesq_wb,pesq_nb,stoi,estoi,si_sdr,sdr,ssnr,csig,cbak,covl
data_opts=

enhance_opts=   # e.g. "--bf16 --chunk-seconds 20"
score_jobs=2

. ../../../tools/recipe.sh

extra_opts=$train_opts
first_stage=$stage
for model in $models; do
  opts_var=${model}_opts
  declare -p "$opts_var" >/dev/null 2>&1 || { echo "$0: no ${opts_var} for model $model" >&2; exit 2; }
  exp_tag=$model
  train_opts="${!opts_var} $extra_opts"
  . ../../../recipes/enh/stages.sh
  [ "$stage" -ge 1 ] || stage=1           # the data is there after the first model
done
stage=$first_stage

if stage 4 "side by side: noisy and every model"; then
  for t in $test_sets; do
    systems=(noisy=exp/${models%% *}/scores/$t/noisy)
    for model in $models; do systems+=("$model=exp/$model/scores/$t/enhanced"); done
    "$PYTHON" "$AUDIOKIT_ROOT/tools/score_table.py" --out exp/RESULTS_$t.md "${systems[@]}"
  done
fi
