#!/usr/bin/env bash
# EARS-WHAM v2 (Richter et al., Interspeech 2024: EARS anechoic speech + WHAM! 48 kHz noise,
# test speakers p102-p107, SNR -2.5..17.5 dB), scored at 16 kHz as in MambAttention's
# cross-corpus table. A test-only recipe: it enhances and scores a model trained elsewhere
# (published anchor, MambAttention trained on VB-DemandEx: PESQ 2.01, SSNR 2.51, ESTOI 0.73,
# SI-SDR 7.35).
#   ./run.sh --stage -1 --corpus downloads   # with internet: download EARS + WHAM!48kHz, generate
#   ./run.sh --corpus downloads/EARS-WHAM --model_dir ../../vb_demandex/enh/exp/mambattention
set -euo pipefail
cd "$(dirname "$0")"

corpus=downloads
model_dir=
exp_tag=
test_sets=test
metrics=pesq_wb,ssnr,estoi,si_sdr,stoi,dnsmos_sig,dnsmos_bak,dnsmos_ovrl,dnsmos_p808
score_jobs=4
enhance_opts=

. ../../../tools/recipe.sh
if [ "$stop_stage" -ge 2 ] && [ -z "$model_dir" ]; then
  echo "$0: stages 2-3 need --model_dir DIR (a trained model; this recipe does not train)" >&2; exit 2
fi
train_set= valid_set=
data_opts="--root $corpus --out data"
download_opts=$corpus
. ../../../recipes/enh/stages.sh
