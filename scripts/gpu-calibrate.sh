#!/usr/bin/env bash
# Measures the reference runtime on a GPU box and leaves the records and logs in OUTDIR.
#
#   gpu-calibrate.sh OUTDIR             # on the GPU box, from the bundle (gpu-bundle.sh)
#   gpu-calibrate.sh --dry-run OUTDIR   # here: the default CPU build, device cpu, tiny grid
#
# GPU mode expects the bundle layout (profiler, lib/libcudart.so.13, scripts/this file), a
# CUDA 13 driver (>= 580) and the CUDA 13 libraries (cuBLAS, cuRAND, NVRTC) on the box; no
# network. Steps: library check (ldd), nvidia-smi, `profiler cuda-check` (candle's context,
# kernels, cuBLAS and quantized matmuls against the CPU), a smoke test (one `profiler run`
# of a tiny synthetic model on cuda:0 under a timeout), then `profiler sweep --suite
# cuda-default` under a wall-clock limit (SWEEP_LIMIT_S, default 480 s). A failed check or
# smoke test stops before the sweep (exit 3): a broken build costs seconds of device time.
# OUTDIR gets: <fingerprint>.jsonl (records), smoke.jsonl, logs/*.log, env.txt, summary.txt.
# PROFILER=path overrides the binary; MEMCAL_MODEL_DIR the models (default /tmp/memcal-models).
set -uo pipefail

dry=0
if [ "${1:-}" = --dry-run ]; then
  dry=1
  shift
fi
if [ $# -ne 1 ] || [ "${1:-}" = --help ] || [ "${1:-}" = -h ]; then
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
  exit 2
fi
out=$1
mkdir -p "$out/logs"
out=$(cd "$out" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
logs=$out/logs
summary=$out/summary.txt
: > "$summary"
say() { echo "$*" | tee -a "$summary" >&2; }

# --- the binary and its libraries -------------------------------------------------------
if [ "$dry" = 1 ]; then
  device=cpu
  repo=$(cd "$here/.." && pwd)
  if [ -z "${PROFILER:-}" ]; then
    say "dry run: building the default CPU profiler"
    (cd "$repo" && cargo build --release -q -p profiler) > "$logs/build.log" 2>&1 ||
      { say "build failed (logs/build.log)"; exit 1; }
    PROFILER=$repo/target/release/profiler
  fi
else
  device=cuda:0
  bundle=$(cd "$here/.." && pwd)
  PROFILER=${PROFILER:-$bundle/profiler}
  libdirs=$bundle/lib
  [ -d /usr/local/cuda/lib64 ] && libdirs=$libdirs:/usr/local/cuda/lib64
  # Where the box keeps cuBLAS 13 etc. when it is not under /usr/local/cuda.
  for so in libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libnvrtc.so.13 libcuda.so.1; do
    d=$(ldconfig -p 2>/dev/null | awk -v s="$so" '$1 == s { print $NF; exit }')
    [ -n "$d" ] && libdirs=$libdirs:$(dirname "$d")
  done
  export LD_LIBRARY_PATH=$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
[ -x "$PROFILER" ] || { say "no profiler binary at $PROFILER"; exit 1; }
# Synthetic models (up to 0.5 GB each) go outside OUTDIR so that OUTDIR stays small to copy.
export MEMCAL_MODEL_DIR=${MEMCAL_MODEL_DIR:-${TMPDIR:-/tmp}/memcal-models}
mkdir -p "$MEMCAL_MODEL_DIR"

{
  echo "date: $(date -u +%FT%TZ)"
  echo "mode: $([ "$dry" = 1 ] && echo dry-run || echo gpu)  device: $device"
  echo "profiler: $PROFILER ($("$PROFILER" --version 2>&1))"
  echo "uname: $(uname -a)"
  echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
  echo "nproc: $(nproc)"
  grep -E 'MemTotal|MemAvailable' /proc/meminfo
  cat /proc/driver/nvidia/version 2>/dev/null
} > "$out/env.txt"
if command -v nvidia-smi > /dev/null; then
  nvidia-smi > "$logs/nvidia-smi.log" 2>&1
  nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv \
    >> "$out/env.txt" 2>&1
fi
if [ "$dry" = 0 ]; then
  ldd "$PROFILER" > "$logs/ldd.log" 2>&1
  if grep -q 'not found' "$logs/ldd.log"; then
    say "missing libraries (logs/ldd.log):"
    grep 'not found' "$logs/ldd.log" | tee -a "$summary" >&2
    exit 1
  fi
fi

# --- candle self-test on the device (context, PTX kernels, cuBLAS, quantized matmuls) ----
if [ "$dry" = 0 ]; then
  timeout 120 "$PROFILER" cuda-check --device "$device" > "$logs/cuda-check.log" 2>&1
  rc=$?
  say "cuda-check: exit $rc (logs/cuda-check.log)"
  sed 's/^/  /' "$logs/cuda-check.log" | tee -a "$summary" >&2
  [ "$rc" = 0 ] || { say "cuda-check failed: no smoke test, no sweep"; exit 3; }
fi

# --- smoke test --------------------------------------------------------------------------
smoke_model=$MEMCAL_MODEL_DIR/smoke-tiny-q4_0.gguf
"$PROFILER" synth --preset tiny --qtype Q4_0 -o "$smoke_model" > "$logs/smoke-synth.log" 2>&1 ||
  { say "synth failed (logs/smoke-synth.log)"; exit 1; }
say "smoke: profiler run on $device"
smoke_start=$(date +%s)
timeout 180 "$PROFILER" run "$smoke_model" --device "$device" --ctx 256 --batch 1 \
  --ubatch 64 --decode 4 --timeout 150 --append "$out/smoke.jsonl" \
  > "$logs/smoke.log" 2>&1
smoke_rc=$?
say "smoke: exit $smoke_rc in $(( $(date +%s) - smoke_start )) s (logs/smoke.log)"
sed 's/^/  /' "$logs/smoke.log" | head -40 | tee -a "$summary" >&2
if [ "$smoke_rc" != 0 ]; then
  say "smoke test failed: no sweep (the record's error is in smoke.jsonl)"
  exit 3
fi

# --- the sweep ---------------------------------------------------------------------------
if [ "$dry" = 1 ]; then
  sweep_args=(--model "$smoke_model" --device cpu --ctx 128,256 --batch 1,2 --ubatch 64
    --kv-dtype f16,f32)
  limit=${SWEEP_LIMIT_S:-300}
else
  sweep_args=(--suite cuda-default --models-dir "$MEMCAL_MODEL_DIR")
  limit=${SWEEP_LIMIT_S:-480}
fi
"$PROFILER" sweep "${sweep_args[@]}" --list > "$logs/sweep-plan.log" 2> "$logs/sweep-plan.err"
say "sweep: $(grep -c . "$logs/sweep-plan.log") configurations, limit ${limit} s"
sweep_start=$(date +%s)
# The sweep appends each record as it finishes and resumes: a run cut by the limit keeps
# what it measured, and running this script again continues.
timeout --kill-after=20 "$limit" "$PROFILER" sweep "${sweep_args[@]}" --data-dir "$out" \
  --timeout 240 > "$logs/sweep.log" 2>&1
sweep_rc=$?
say "sweep: exit $sweep_rc in $(( $(date +%s) - sweep_start )) s (logs/sweep.log)"
tail -5 "$logs/sweep.log" | sed 's/^/  /' | tee -a "$summary" >&2
for f in "$out"/*.jsonl; do
  [ -e "$f" ] || continue
  n=$(grep -c . "$f")
  ok=$(grep -c '"status":"ok"' "$f")
  oom=$(grep -c '"status":"oom"' "$f")
  say "records: $(basename "$f"): $n ($ok ok, $oom oom, $((n - ok - oom)) error)"
done
[ "$sweep_rc" = 0 ] || exit 4
