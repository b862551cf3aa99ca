#!/usr/bin/env bash
# Train the next default-model candidate on a lent GPU (issue 12); see scripts/gpu/pack.py.
#
#   bash scripts/gpu/train_candidate.sh stage          # call 1 (carry .gpu/a): checks only
#   bash scripts/gpu/train_candidate.sh train [SEC]    # call 2 (carry .gpu/b): trains <= SEC s
#
# Trains configs/candidates/unet-eld-bias.yaml from the initial model in .gpu/a/init on the
# reassembled data, stops at its iterations or after SEC seconds (SIGINT: the trainer saves a
# checkpoint), and writes to $OUT: model/ (fp16 safetensors + config.yaml, via
# scripts/ship_model.py), log.csv, val.csv and run.log. Evaluate the model here afterwards
# (benchmarks/heldout.py, configs/eval-sid-synth.yaml). Environment: DEVICE (default cuda),
# ITERATIONS (default: the config's), EXTRA (more --set overrides, space-separated).
set -uo pipefail
mode=${1:-train}
seconds=${2:-420}
OUT=${OUT:-/tmp/expodiff-out}
mkdir -p "$OUT"
log="$OUT/run.log"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
{
  echo "== $(date -u +%FT%TZ) $mode on $(hostname)"
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available() and torch.cuda.get_device_name())"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,utilization.gpu --format=csv
  nproc
} 2>&1 | tee -a "$log"
for part in .gpu/a .gpu/b; do
  [ -d "$part" ] && echo "$part: $(du -sh "$part" | cut -f1)" | tee -a "$log"
done
[ "$mode" = stage ] && exit 0

for part in .gpu/a .gpu/b; do
  [ -d "$part" ] || { echo "train_candidate: $part missing (run pack.py, carry it)" | tee -a "$log"; exit 2; }
done
data=$(mktemp -d /tmp/expodiff-data.XXXX)
mkdir -p "$data/clean/Photos"
ln -s "$PWD/.gpu/a/sid_meta" "$data/sid_meta"
ln -s "$PWD/.gpu/b/McMaster" "$data/clean/McMaster"
for f in "$PWD"/.gpu/a/Photos/* "$PWD"/.gpu/b/Photos/*; do ln -s "$f" "$data/clean/Photos/"; done
export EXPODIFF_DATA="$data"
echo "photos: $(ls "$data/clean/Photos" | wc -l)" | tee -a "$log"

run=$(mktemp -d /tmp/expodiff-run.XXXX)/run
sets=(--set "train.device=${DEVICE:-cuda}" --set "train.init_from=$PWD/.gpu/a/init"
      --set "train.output_dir=$run" --set "train.progress=false"
      --set "data.train_sets=[McMaster, 'Photos:train']")
[ -n "${ITERATIONS:-}" ] && sets+=(--set "train.iterations=$ITERATIONS")
for s in ${EXTRA:-}; do sets+=(--set "$s"); done
timeout -s INT -k 60 "$seconds" python3 -m expodiff train \
  --config configs/candidates/unet-eld-bias.yaml "${sets[@]}" 2>&1 | tee -a "$log"
echo "train exit: ${PIPESTATUS[0]}" | tee -a "$log"

model="$run/model"
if [ ! -f "$model/model.safetensors" ]; then
  model=$(python3 -c "from expodiff.train.checkpoint import find_latest_checkpoint as f; print(f('$run') or '')")
  echo "no final model; using the latest checkpoint: ${model:-none}" | tee -a "$log"
fi
[ -n "$model" ] || exit 1
python3 scripts/ship_model.py "$model" --dest "$OUT/model" 2>&1 | tee -a "$log"
cp "$run/log.csv" "$run/val.csv" "$OUT/" 2>/dev/null
cp "$run/config.yaml" "$OUT/run-config.yaml" 2>/dev/null
exit 0
