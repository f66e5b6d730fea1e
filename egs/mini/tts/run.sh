#!/usr/bin/env bash
# Mini TTS recipe: runs end to end on a CPU in about 15 minutes with no download.
# One eSpeak NG voice (en-us+m1) reads 300 training utterances (about 14 minutes of speech,
# tools/make_mini_corpus.py --voice) at 22.05 kHz; a small acoustic model is trained
# (--model fastspeech: FastSpeech with MAS durations and its feed-forward decoder, encoder
# attention linear; transformer_tts: Transformer-TTS; lina: the Lina-style GLA decoder; each its
# *_mini config and its own optimiser), a HiFi-GAN mini vocoder is trained on the same recordings
# (or give --vocoder DIR), the 10 held-out test sentences are synthesized and scored against the
# recordings (mel-cepstral distortion, F0 RMSE, and the WER/CER of a recogniser, also on the
# recordings themselves). With Whisper tiny.en the synthesized sentences are about as
# intelligible as the eSpeak recordings (WER 27 % against 26 %; BENCHMARKS.md); the voice is
# robotic and the 10-sentence WER is noisy (95 % interval about +-20 points).
# Stage 5 (only with --adapt_voice VOICE): voice adaptation. lina_mini is trained on the six
# training voices of the multi-voice mini corpus, adapted to VOICE (a voice it never heard) by
# initial-state tuning (`audiokit adapt`) on a few minutes of its speech, and VOICE's test
# sentences are synthesized before and after adaptation and scored (spk_sim, wer):
# exp/adapt_<voice>/RESULTS.md.
#   ./run.sh [--stage N] [--stop_stage M] [--model fastspeech|transformer_tts|lina] [--vocoder DIR]
#   ./run.sh --models "fastspeech_mini_softmax fastspeech_mini_linear fastspeech_mini_gla fastspeech_mini_wersa"
#   ./run.sh --stage 5 --adapt_voice en-gb-x-rp+f4
#   ./run.sh --stage 5 --adapt_voice en-gb-x-rp+f4 --adapt_sentences texts.txt   # a bigger base corpus (GPU)
set -euo pipefail
cd "$(dirname "$0")"
# One thread per program unless the caller says otherwise: these small models gain little from a
# second thread, and on a shared 2-core machine two threads per program ran several times slower
# (OpenMP threads wait for each other while the other jobs hold the cores).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

model=fastspeech        # fastspeech | transformer_tts | lina: trains fastspeech_mini_linear | <model>_mini
models=                 # recipes/tts/conf/model names instead of --model (several: side by side)
optim=                  # empty: each model's own optimiser (recipes/tts/conf/optim)
train_set=train
valid_set=dev
test_sets=test
train_opts="trainer.max_steps=1500 trainer.batch_size=8 trainer.num_workers=1 trainer.log_every=100 \
trainer.valid_every=500 trainer.save_every=500 data.max_valid=5"
# Per-model additions (the first of <config>_opts, then shorter prefixes, that is defined):
# FastSpeech at lr 1e-3 instead of Matcha's 1e-4 because the run is short; Lina's 500 warm-up
# steps cut to 150, a tenth of the run. Transformer-TTS keeps Noam with warm-up 4000 (d 128:
# the lr rises to 5.2e-4 by step 1500).
fastspeech_opts="optim.model.lr=1e-3"
lina_opts="optim.model.schedule.warmup=150"
transformer_tts_opts=
vocoder=
voc_task=hifigan        # hifigan (hifigan_mini) | periodwave (periodwave_tiny): stage 2's vocoder
voc_model=              # empty: the task's mini config
voc_optim=
# Each vocoder task's settings come first, voc_opts after them (for Hydra the later value wins).
# HiFi-GAN: hifigan_mini with recipes/vocoder/conf/hifigan/mini.yaml, stopped at the end of its
# 2000-step mel-L1 warm-up (no adversarial steps): a step count rather than egs/mini/voc's 4.5
# minutes, so a loaded machine gets the same vocoder, only later. Measured on the test sentences
# (Whisper WER of copy-synthesis; recordings 26 %): 47 % after 1118 steps, 29 % after 2000.
hifigan_voc_opts="hifigan=mini trainer.max_steps=2000 trainer.batch_size=4 trainer.num_workers=1 data.segment=8192 \
trainer.log_every=100 trainer.valid_every=1000 trainer.save_every=1000 data.max_valid=2 optim.generator.lr=1e-3 \
optim.generator.schedule.every=75 optim.discriminator.schedule.every=75"
periodwave_voc_opts="trainer.max_steps=1500 trainer.batch_size=4 trainer.num_workers=1 data.segment=8192 \
trainer.log_every=200 trainer.valid_every=1500 trainer.save_every=500 data.max_valid=2 valid_steps=4 \
optim.generator.lr=1e-3"
voc_opts=
synth_opts="--steps 10 --temperature 0.667 --vocoder-steps 4"   # --steps/--temperature: cfm decoders; --vocoder-steps: PeriodWave
metrics=mcd,f0_rmse,wer,cer
ref_metrics=wer,cer
data_opts="--voice en-us+m1 --n-train 300 --n-dev 5 --n-test 10"
score_jobs=2
# Stage 5, voice adaptation (skipped unless --adapt_voice is given).
adapt_voice=            # an eSpeak NG voice outside the corpus's training voices, e.g. en-gb-x-rp+f4
adapt_model=lina_mini   # a lina config
adapt_data_opts="--n-train 240 --n-dev 6 --n-test 0"          # the multi-voice corpus (data/multi)
adapt_sentences=        # a sentence file (e.g. LJSpeech's transcripts): the base model's corpus is these
                        # sentences spoken by the same six voices (local/espeak_corpus.py, data/multi_sentences)
                        # instead of the mini corpus's 240; a model that speaks needs thousands (BENCHMARKS.md)
adapt_voice_opts="--n-train 60 --n-dev 0 --n-test 10"         # the new voice: adaptation set and test sentences
adapt_train_opts="trainer.max_steps=300 trainer.max_minutes=7 trainer.valid_every=300 trainer.save_every=100 \
trainer.log_every=25 mel_stats_items=200 optim.model.schedule.warmup=30"   # after train_opts and lina_opts
adapt_opts="--steps 60 --batch-size 4"                        # audiokit adapt
adapt_metrics=spk_sim,wer

. ../../../tools/recipe.sh

case "$voc_task" in
  hifigan) voc_model=${voc_model:-hifigan_mini} ;;
  periodwave) voc_model=${voc_model:-periodwave_tiny} ;;
  *) echo "$0: --voc_task must be hifigan or periodwave, got '$voc_task'" >&2; exit 2 ;;
esac
voc_optim=${voc_optim:-$voc_task}
_vopts=${voc_task}_voc_opts
voc_opts="${!_vopts} $voc_opts"

if [ -z "$models" ]; then
  case $model in
    fastspeech) models=fastspeech_mini_linear ;;
    transformer_tts|lina) models=${model}_mini ;;
    *) echo "$0: --model must be fastspeech, transformer_tts or lina (or name configs with --models), got '$model'" >&2
       exit 2 ;;
  esac
fi

. ../../../recipes/tts/stages.sh

if [ -n "$adapt_voice" ] && stage 5 "adapt $adapt_model to the voice $adapt_voice"; then
  . local/adapt.sh
fi
