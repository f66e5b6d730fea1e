# Stages shared by every TTS recipe (egs/*/tts/run.sh sources this after tools/recipe.sh).
# The recipe provides local/data.sh (stage 0: data directories with wav.scp and text) and,
# where the corpus can be downloaded, local/download.sh (stage -1), and sets:
#   models              recipes/tts/conf/model choices, one or more ("a b": trained and scored side by side)
#   optim               recipes/tts/conf/optim choice for every model; empty: each model's own
#                       (fastspeech; transformer_tts* -> transformer_tts; lina* -> lina)
#   <prefix>_opts       optional per-model Hydra overrides, after train_opts: for config
#                       fastspeech_mini_linear the first of fastspeech_mini_linear_opts,
#                       fastspeech_mini_opts, fastspeech_opts that the recipe defines
#   train_set valid_set test_sets   data directories under data/
#   train_opts          extra Hydra overrides for recipes/tts/train.py ("" for none)
#   vocoder             a trained vocoder directory; empty: stage 2 trains one on $train_set
#   voc_task voc_model voc_optim voc_opts   that vocoder's recipes/vocoder choices and overrides
#   synth_opts          extra options of audiokit synthesize (e.g. "--steps 10 --temperature 0.667")
#   metrics             metrics of audiokit score for the synthesized speech against data/<test set>
#   ref_metrics         metrics also scored on the recordings themselves (the recogniser's own
#                       WER on real speech, beside the synthesized rows; empty: none)
: "${optim:=}"
: "${train_opts:=}"
: "${vocoder:=}"
: "${voc_task:=periodwave}"
: "${voc_model:=periodwave_tiny}"
: "${voc_optim:=$voc_task}"
: "${voc_opts:=}"
: "${data_opts:=}"
: "${download_opts:=}"
: "${synth_opts:=}"
: "${metrics:=mcd,f0_rmse,wer,cer}"
: "${ref_metrics:=wer,cer}"
: "${score_jobs:=2}"
_tts_conf=$AUDIOKIT_ROOT/recipes/tts
_voc_dir=${vocoder:-exp/vocoder_$voc_model}

# Per-model overrides: the variable <p>_opts for the longest prefix p of the config name (cut
# at underscores) that the recipe defines.
_model_opts() {
  local p=$1 v
  while :; do
    v=${p}_opts
    if declare -p "$v" >/dev/null 2>&1; then printf '%s' "${!v}"; return; fi
    [ "${p%_*}" != "$p" ] || return 0
    p=${p%_*}
  done
}

if stage -1 "download the corpus"; then
  # shellcheck disable=SC2086
  if [ -x local/download.sh ]; then local/download.sh $download_opts; else echo "nothing to download for this recipe"; fi
fi

if stage 0 "prepare data directories"; then
  # shellcheck disable=SC2086
  local/data.sh $data_opts
  for d in $train_set $valid_set $test_sets; do
    "$PYTHON" -c "from audiokit.datadir import validate_data_dir as v; import sys; v(sys.argv[1], required=('wav.scp', 'text'))" data/$d
  done
fi

if stage 1 "train acoustic model(s) $models"; then
  for m in $models; do
    # shellcheck disable=SC2086,SC2046
    launch "$_tts_conf/train.py" model="$m" ${optim:+optim="$optim"} exp_dir="exp/$m" \
      data.train=data/$train_set data.valid=data/$valid_set $train_opts $(_model_opts "$m")
  done
fi

if stage 2 "vocoder $_voc_dir"; then
  if [ -n "$vocoder" ]; then
    [ -f "$vocoder/config.yaml" ] || { echo "vocoder=$vocoder: no config.yaml there" >&2; exit 1; }
    echo "using the trained vocoder $vocoder"
  else
    # shellcheck disable=SC2086
    launch "$AUDIOKIT_ROOT/recipes/vocoder/train.py" task="$voc_task" model="$voc_model" optim="$voc_optim" \
      exp_dir="$_voc_dir" data.train=data/$train_set data.valid=data/$valid_set $voc_opts
  fi
fi

if stage 3 "synthesize $test_sets"; then
  for m in $models; do
    for t in $test_sets; do
      # shellcheck disable=SC2086
      "$PYTHON" -m audiokit synthesize --text-file data/$t -o exp/$m/synth/$t --model exp/$m --vocoder "$_voc_dir" $synth_opts
    done
  done
fi

if stage 4 "score the synthesized speech against the recordings"; then
  for t in $test_sets; do
    rows=()
    if [ -n "$ref_metrics" ]; then
      "$PYTHON" -m audiokit score --ref data/$t --est data/$t --out exp/scores/$t/recordings \
        --metrics "$ref_metrics" --jobs "$score_jobs" --quiet
      rows+=("recordings=exp/scores/$t/recordings")
    fi
    for m in $models; do
      "$PYTHON" -m audiokit score --ref data/$t --est exp/$m/synth/$t --out exp/$m/scores/$t \
        --metrics "$metrics" --jobs "$score_jobs" --quiet
      rows+=("$m=exp/$m/scores/$t")
    done
    "$PYTHON" "$AUDIOKIT_ROOT/tools/score_table.py" --out exp/scores/$t/RESULTS.md "${rows[@]}"
    cat exp/scores/$t/RESULTS.md
  done
fi
