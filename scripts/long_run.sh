#!/usr/bin/env bash
# A training run that outlives a working session: it runs in the background with one thread,
# writes into a tracked folder under training/, and is committed at the end of each session so
# the next one continues it exactly (expodiff train --resume).
#
#   scripts/long_run.sh start CONFIG   start, or resume when the folder has a checkpoint
#   scripts/long_run.sh status CONFIG  steps, CPU hours and the last validation of the run
#   scripts/long_run.sh stop CONFIG    SIGTERM: finish the step, save a checkpoint, exit
#   scripts/long_run.sh commit CONFIG  stop, keep only the latest checkpoint, git commit
#
# CONFIG's train.output_dir must lie under training/ (tracked; runs/ is ignored). The folder
# holds config.yaml, log.csv (step, loss, cpu_hours: CPU time over every session, data worker
# included), val.csv (validation PSNR on the config's val_sets) and checkpoints/ (weights +
# Adam, a few MB for the small presets); nohup.log is the console output. The run imports a copy
# of src/expodiff taken at start (runs/long_run_src/), so editing the code meanwhile is safe.
set -euo pipefail
cd "$(dirname "$0")/.."
action=${1:?usage: scripts/long_run.sh start|status|stop|commit CONFIG}
config=${2:?usage: scripts/long_run.sh start|status|stop|commit CONFIG}
[[ -f $config ]] || { echo "long_run: $config: no such config" >&2; exit 2; }
PY=${PY:-.venv/bin/python}
export GLIBC_TUNABLES=${GLIBC_TUNABLES:-glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=68719476736}
export EXPODIFF_DATA=${EXPODIFF_DATA:-$(cd .. && pwd)/shared/data}
out=$("$PY" -c 'import sys; from expodiff.config import load_config; print(load_config(sys.argv[1]).train.output_dir)' "$config")
case $out in
  training/*) ;;
  *) echo "long_run: $config writes to $out; a long run's train.output_dir must be under training/" >&2; exit 2 ;;
esac
pids() { pgrep -f -- "expodiff train --config $config" || true; }

case $action in
  start)
    if [[ -n $(pids) ]]; then echo "long_run: already running ($(pids | head -1))"; exit 0; fi
    mkdir -p "$out"
    resume=()
    [[ -f $out/checkpoints/latest ]] && resume=(--resume)
    # The run imports a frozen copy of the package: editing src/ while it runs (its validation
    # and checkpoints import modules lazily) must not mix two versions of the code in it.
    frozen=runs/long_run_src/$(basename "$config" .yaml)
    rm -rf "$frozen" && mkdir -p "$frozen" && cp -r src/expodiff "$frozen/"
    PYTHONPATH=$PWD/$frozen OMP_NUM_THREADS=1 nohup .venv/bin/expodiff train --config "$config" \
      "${resume[@]}" >>"$out/nohup.log" 2>&1 </dev/null &
    echo "long_run: ${resume[*]:-started} $config in the background (pid $!), log $out/nohup.log"
    ;;
  status)
    "$PY" - "$out" <<'PY'
import csv, sys
from pathlib import Path
out = Path(sys.argv[1])
rows = list(csv.DictReader(open(out / "log.csv"))) if (out / "log.csv").is_file() else []
vals = list(csv.DictReader(open(out / "val.csv"))) if (out / "val.csv").is_file() else []
if rows:
    r = rows[-1]
    print(f"{out}: step {r['step']}, loss {float(r['loss']):.4g}, {float(r['cpu_hours']):.3f} CPU hours")
else:
    print(f"{out}: no log rows yet")
if vals:
    last = vals[-1]["step"]
    print("validation at step", last + ":", ", ".join(
        f"x{float(v['ratio']):g} {float(v['psnr']):.2f} dB" for v in vals if v["step"] == last))
PY
    ;;
  stop|commit)
    # SIGTERM (the trainer saves a checkpoint and exits), again every 15 s: a background job
    # starts with SIGINT ignored, so one sent before the trainer's handler is in place would be
    # lost; a repeated SIGTERM is harmless (a repeated SIGINT aborts the run).
    for i in $(seq 0 599); do
      [[ -z $(pids) ]] && break
      # the trainer only (the oldest process): its data worker would die of SIGTERM mid-batch
      ((i % 15)) || kill -TERM "$(pgrep -o -f -- "expodiff train --config $config")" 2>/dev/null || true
      sleep 1
    done
    [[ -z $(pids) ]] || { echo "long_run: the run did not stop within 10 minutes" >&2; exit 1; }
    echo "long_run: stopped; latest checkpoint $(cat "$out/checkpoints/latest" 2>/dev/null || echo none)"
    if [[ $action == commit ]]; then
      latest=$(cat "$out/checkpoints/latest")
      for d in "$out"/checkpoints/step_*; do [[ $(basename "$d") == "$latest" ]] || rm -rf "$d"; done
      git add -A "$out"
      git commit -q -m "long run $out: $("$0" status "$config" | head -1)" -- "$out" && git log --oneline -1
    fi
    ;;
  *) echo "long_run: unknown action $action (start, status, stop, commit)" >&2; exit 2 ;;
esac
