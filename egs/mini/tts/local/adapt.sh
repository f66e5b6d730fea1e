# Stage 5 of run.sh (sourced there, after recipes/tts/stages.sh): adaptation to a voice the
# model never heard. Uses run.sh's adapt_* settings, train_opts, synth_opts and the vocoder
# of stage 2 ($_voc_dir).
#   data/multi          the multi-voice mini corpus: 6 voices in train, another in dev
#                       (data/multi_sentences with --adapt_sentences: those sentences, the same 6 voices)
#   data/voice_<tag>    the new voice alone: train = its adaptation set, test = its test sentences
#   exp/<adapt_model>_multi                 the base model, trained on data/multi/train
#   exp/adapt_<tag>/{adapted, synth_base, synth_adapted, copysyn, scores_*, RESULTS.md}
# RESULTS.md rows: the recordings (the recogniser's own WER), copy-synthesis through the
# vocoder (its ceiling for spk_sim), and the synthesis before and after adaptation.
# spk_sim pairs each synthesized sentence with the recording of the same sentence.

_tag=${adapt_voice//+/_}
_vdata=data/voice_$_tag
_multi=data/multi${adapt_sentences:+_sentences}
_base=exp/${adapt_model}_multi${adapt_sentences:+_sentences}
_out=exp/adapt_$_tag

# the new voice must be outside the base model's training voices
"$PYTHON" - "$AUDIOKIT_ROOT/tools/make_mini_corpus.py" "$adapt_voice" <<'PY'
import ast, sys
tree = ast.parse(open(sys.argv[1], encoding="utf-8").read())
speakers = next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                and getattr(n.targets[0], "id", None) == "SPEAKERS")
train = [v for _, v, _ in speakers["train"]]
if sys.argv[2] in train:
    sys.exit(f"--adapt_voice {sys.argv[2]} is one of the base model's training voices {train}; pick another")
PY
[ -f "$_voc_dir/config.yaml" ] || { echo "stage 5 needs the vocoder $_voc_dir (stage 2, or --vocoder DIR)" >&2; exit 1; }

if [ -n "$adapt_sentences" ]; then
  if [ ! -f "$_multi/.tts_done" ]; then
    "$PYTHON" local/espeak_corpus.py "$_multi" --train "$adapt_sentences" --n-dev 6 --jobs "$score_jobs"
    touch "$_multi/.tts_done"
  fi
else
  # shellcheck disable=SC2086
  local/data.sh --out "$_multi" $adapt_data_opts
fi
# shellcheck disable=SC2086
local/data.sh --out "$_vdata" --voice "$adapt_voice" $adapt_voice_opts

if [ ! -f "$_base/model.safetensors" ]; then
  # shellcheck disable=SC2086,SC2046
  launch "$_tts_conf/train.py" model="$adapt_model" ${optim:+optim="$optim"} exp_dir="$_base" \
    data.train="$_multi/train" data.valid="$_multi/dev" $train_opts $(_model_opts "$adapt_model") $adapt_train_opts
fi

# shellcheck disable=SC2086
"$PYTHON" -m audiokit adapt --model "$_base" --data "$_vdata/train" -o "$_out/adapted" $adapt_opts

"$PYTHON" -m audiokit vocode "$_vdata/test" -o "$_out/copysyn" --model "$_voc_dir" --steps 4
for _sys in base adapted; do
  _dir=$_base; [ $_sys = base ] || _dir=$_out/adapted
  # shellcheck disable=SC2086
  "$PYTHON" -m audiokit synthesize --text-file "$_vdata/test" -o "$_out/synth_$_sys" --model "$_dir" \
    --vocoder "$_voc_dir" $synth_opts
done

_rows=()
_asr=$(tr , '\n' <<< "$adapt_metrics" | grep -E '^(wer|cer)$' | paste -sd, || true)
if [ -n "$_asr" ]; then   # the recogniser on the recordings themselves
  "$PYTHON" -m audiokit score --ref "$_vdata/test" --est "$_vdata/test" --out "$_out/scores_recordings" \
    --metrics "$_asr" --jobs "$score_jobs" --quiet
  _rows+=("recordings=$_out/scores_recordings")
fi
for _sys in copysyn synth_base synth_adapted; do
  "$PYTHON" -m audiokit score --ref "$_vdata/test" --est "$_out/$_sys" --out "$_out/scores_$_sys" \
    --metrics "$adapt_metrics" --jobs "$score_jobs" --quiet
  _rows+=("${_sys#synth_}=$_out/scores_$_sys")
done
"$PYTHON" "$AUDIOKIT_ROOT/tools/score_table.py" --out "$_out/RESULTS.md" "${_rows[@]}"
cat "$_out/RESULTS.md"
