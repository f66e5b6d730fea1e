# Stages shared by every vocoder recipe (egs/*/voc/run.sh sources this after
# tools/recipe.sh). The recipe provides local/data.sh (stage 0: data directories whose
# wav.scp lists the recordings) and, where the corpus can be downloaded, local/download.sh
# (stage -1), and sets:
#   task model optim    recipes/vocoder/conf choices (task periodwave | hifigan)
#   train_set valid_set test_sets   data directories under data/
#   train_opts          extra Hydra overrides for recipes/vocoder/train.py ("" for none)
#   turbo               true: stage 2 fine-tunes PeriodWave-Turbo from stage 1's model
#   turbo_opts          extra Hydra overrides for the Turbo run
#   exp_tag             experiment name (exp/<exp_tag>; Turbo goes to exp/<exp_tag>_turbo)
#   vocode_opts         extra options of recipes/vocoder/infer.py = audiokit vocode (e.g. "--steps 16 --batch-size 8")
#   metrics             metrics for audiokit score
: "${exp_tag:=$model}"
: "${task:=periodwave}"
: "${optim:=$task}"
: "${train_opts:=}"
: "${turbo:=false}"
: "${turbo_opts:=}"
: "${data_opts:=}"
: "${download_opts:=}"
: "${vocode_opts:=}"
: "${metrics:=mstft,mel_l1,pesq_wb,stoi}"
: "${score_jobs:=2}"
exp_dir=exp/$exp_tag
systems=$exp_dir
[ "$turbo" = true ] && systems="$exp_dir ${exp_dir}_turbo"
_voc_conf=$AUDIOKIT_ROOT/recipes/vocoder

if stage -1 "download the corpus"; then
  # shellcheck disable=SC2086
  if [ -x local/download.sh ]; then local/download.sh $download_opts; else echo "nothing to download for this recipe"; fi
fi

if stage 0 "prepare data directories"; then
  # shellcheck disable=SC2086
  local/data.sh $data_opts
  for d in $train_set $valid_set $test_sets; do
    "$PYTHON" -c "from audiokit.datadir import validate_data_dir as v; import sys; v(sys.argv[1], required=('wav.scp',))" data/$d
  done
fi

if stage 1 "train $task ($model) -> $exp_dir"; then
  # shellcheck disable=SC2086
  launch "$_voc_conf/train.py" task="$task" model="$model" optim="$optim" exp_dir="$exp_dir" \
    data.train=data/$train_set data.valid=data/$valid_set $train_opts
fi

if stage 2 "fine-tune PeriodWave-Turbo from $exp_dir -> ${exp_dir}_turbo"; then
  if [ "$turbo" = true ]; then
    # shellcheck disable=SC2086
    launch "$_voc_conf/train.py" task=turbo optim=turbo turbo.pretrained="$exp_dir" exp_dir="${exp_dir}_turbo" \
      data.train=data/$train_set data.valid=data/$valid_set $turbo_opts
  else
    echo "turbo=false: skipped"
  fi
fi

if stage 3 "copy-synthesise ${test_sets}"; then
  for sys_dir in $systems; do
    for t in $test_sets; do
      # shellcheck disable=SC2086
      "$PYTHON" "$_voc_conf/infer.py" data/$t -o $sys_dir/vocoded/$t --model $sys_dir $vocode_opts
    done
  done
fi

if stage 4 "score copy-synthesis against the recordings"; then
  for t in $test_sets; do
    rows=()
    for sys_dir in $systems; do
      "$PYTHON" -m audiokit score --ref data/$t --est $sys_dir/vocoded/$t --out $sys_dir/scores/$t \
        --metrics "$metrics" --jobs "$score_jobs" --quiet
      rows+=("$(basename $sys_dir)=$sys_dir/scores/$t")
    done
    "$PYTHON" "$AUDIOKIT_ROOT/tools/score_table.py" --out $exp_dir/scores/$t/RESULTS.md "${rows[@]}"
  done
fi
