# Stages shared by every enhancement recipe (egs/*/enh/run.sh sources this after
# tools/recipe.sh). The recipe provides local/data.sh (stage 0) and, where the corpus can
# be downloaded, local/download.sh (stage -1), and sets:
#   model       config name under recipes/enh/conf/model (mpsenet, mpsenet_mini, ...)
#   train_set valid_set test_sets   data directories under data/
#   train_opts  extra Hydra overrides for recipes/enh/train.py ("" for none)
#   exp_tag     experiment name (exp/<exp_tag>)
#   metrics     metrics for audiokit score
# and, for a test-only recipe, model_dir: a trained model directory that stages 2-3 use
# instead of exp/<exp_tag> (stage 1 is then skipped).
: "${model_dir:=}"
: "${exp_tag:=${model:-$(basename "${model_dir:-model}")}}"
: "${train_opts:=}"
: "${data_opts:=}"
: "${download_opts:=}"
: "${enhance_opts:=}"
: "${metrics:=pesq_wb,pesq_nb,stoi,estoi,si_sdr,sdr,ssnr,csig,cbak,covl}"
: "${score_jobs:=2}"
exp_dir=exp/$exp_tag
_model_dir=${model_dir:-$exp_dir}
_enh_conf=$AUDIOKIT_ROOT/recipes/enh

if stage -1 "download the corpus"; then
  # shellcheck disable=SC2086
  if [ -x local/download.sh ]; then local/download.sh $download_opts; else echo "nothing to download for this recipe"; fi
fi

if stage 0 "prepare data directories"; then
  # shellcheck disable=SC2086
  local/data.sh $data_opts
  for d in $train_set $valid_set $test_sets; do
    "$PYTHON" -c "from audiokit.datadir import validate_data_dir as v; import sys; v(sys.argv[1], required=('spk1.scp',))" data/$d
  done
fi

if [ -n "$model_dir" ]; then
  [ "$stage" -gt 1 ] || [ "$stop_stage" -lt 1 ] || echo "=== stage 1: skipped (using the trained model $model_dir)"
elif stage 1 "train ${model:-} -> $exp_dir"; then
  # shellcheck disable=SC2086
  launch "$_enh_conf/train.py" model="$model" exp_dir="$exp_dir" \
    data.train=data/$train_set data.valid=data/$valid_set $train_opts
fi

if stage 2 "enhance ${test_sets}"; then
  for t in $test_sets; do
    # shellcheck disable=SC2086
    "$PYTHON" -m audiokit enhance data/$t -o $exp_dir/enhanced/$t --model "$_model_dir" $enhance_opts
  done
fi

if stage 3 "score noisy and enhanced against clean"; then
  for t in $test_sets; do
    "$PYTHON" -m audiokit score --ref data/$t --est data/$t/wav.scp --out $exp_dir/scores/$t/noisy \
      --metrics "$metrics" --jobs "$score_jobs"
    "$PYTHON" -m audiokit score --ref data/$t --est $exp_dir/enhanced/$t --out $exp_dir/scores/$t/enhanced \
      --metrics "$metrics" --jobs "$score_jobs"
    "$PYTHON" "$AUDIOKIT_ROOT/tools/score_table.py" --out $exp_dir/scores/$t/RESULTS.md \
      noisy=$exp_dir/scores/$t/noisy enhanced=$exp_dir/scores/$t/enhanced
  done
fi
