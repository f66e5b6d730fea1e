#!/usr/bin/env bash
# Stage -1: download the sources of VB-DemandEx into DIR (default: downloads/):
#  - clean VoiceBank speech and transcripts (Valentini-Botinhao 2017, Edinburgh DataShare,
#    DOI 10.7488/ds/2117, CC BY 4.0), ~1 GB;
#  - DEMAND noise at 16 kHz (Thiemann et al. 2013, Zenodo record 1227121, CC BY-SA 3.0),
#    one zip per environment, unpacked to DIR/DEMAND/<ENV>/ch01..16.wav, ~1.7 GB.
# Needs wget or curl, and unzip. Re-running skips finished files.
#
# Usage: local/download.sh [DIR]
set -euo pipefail

dir=${1:-downloads}
vb=https://datashare.ed.ac.uk/bitstream/handle/10283/2791
zenodo=https://zenodo.org/records/1227121/files
envs="DKITCHEN DLIVING DWASHING NFIELD NPARK NRIVER OHALLWAY OMEETING OOFFICE PCAFETER PRESTO PSTATION
SCAFE SPSQUARE STRAFFIC TBUS TCAR TMETRO"

mkdir -p "$dir/DEMAND"
fetch() {  # url out: resumable, fails on HTTP errors
  if command -v wget >/dev/null; then wget -c -q --show-progress -O "$2.part" "$1"; else curl -fL -C - -o "$2.part" "$1"; fi
  mv "$2.part" "$2"
}
unpack() {  # zip dest folder-that-shows-it-is-done
  if [ -d "$3" ] && [ -n "$(ls -A "$3")" ]; then echo "have $3"; return; fi
  [ -f "$1" ] || { echo "downloading $(basename "$1")"; fetch "$4" "$1"; }
  unzip -q -o "$1" -d "$2"
  rm -rf "$2/__MACOSX"
}
for f in clean_trainset_28spk_wav clean_testset_wav trainset_28spk_txt testset_txt; do
  unpack "$dir/$f.zip" "$dir" "$dir/$f" "$vb/$f.zip"
done
for e in $envs; do
  unpack "$dir/DEMAND/${e}_16k.zip" "$dir/DEMAND" "$dir/DEMAND/$e" "$zenodo/${e}_16k.zip?download=1"
done
echo "VoiceBank (clean) and DEMAND are in $dir"
