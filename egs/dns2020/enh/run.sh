#!/usr/bin/env bash
# DNS Challenge 2020 (Reddy et al., Interspeech 2020): the synthetic no-reverb test set,
# 150 ten-second 16 kHz clips (noisy/ and clean/, matched by their fileid_N). A test-only
# recipe: it enhances and scores a model trained elsewhere (e.g. egs/vb_demandex/enh),
# the out-of-domain column of MambAttention's table (published anchor, trained on
# VB-DemandEx: PESQ 2.92, SSNR 8.13, ESTOI 0.91, SI-SDR 15.17).
#   ./run.sh --stage -1 --corpus downloads                 # with internet: fetch the test set
#   ./run.sh --corpus downloads --model_dir ../../vb_demandex/enh/exp/mambattention
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
