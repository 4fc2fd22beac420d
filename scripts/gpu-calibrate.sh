#!/usr/bin/env bash
# Measures the reference runtime (and llama.cpp, when the bundle carries a CUDA build of it)
# on a GPU box and leaves the records and logs in OUTDIR.
#
#   gpu-calibrate.sh OUTDIR             # on the GPU box, from the bundle (gpu-bundle.sh)
#   gpu-calibrate.sh --dry-run OUTDIR   # here: the default CPU build, device cpu, tiny grid
#
# GPU mode expects the bundle layout (profiler, lib/libcudart.so.13, scripts/this file), a
# CUDA 13 driver (>= 580) and the CUDA 13 libraries (cuBLAS, cuRAND, NVRTC) on the box; no
# network. Steps: library check (ldd), nvidia-smi, `profiler cuda-check` (candle's context,
# kernels, cuBLAS and quantized matmuls against the CPU), smoke tests (one `profiler run` of
# a tiny synthetic model per weight kind, I2_S, Q8_0 and Q4_0, on cuda:0 under a timeout),
# then `profiler sweep --suite cuda-default` under a wall-clock limit (SWEEP_LIMIT_S,
# default 300 s), then llama.cpp's CUDA build (bundle llama.cpp/bin/llama-completion) on the
# suite's classic-type models through `profiler exec` (LLAMA_LIMIT_S, default 150 s).
# A failed check or smoke test skips the reference runtime's sweep (exit 3 at the end): a
# broken build costs seconds of device time, and llama.cpp is still measured.
# OUTDIR gets: <fingerprint>.jsonl (reference runtime records), llama.cpp.cuda.jsonl,
# smoke.jsonl, logs/*.log, env.txt, summary.txt.
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
healthy=1
if [ "$dry" = 0 ]; then
  timeout 120 "$PROFILER" cuda-check --device "$device" > "$logs/cuda-check.log" 2>&1
  rc=$?
  say "cuda-check: exit $rc (logs/cuda-check.log)"
  sed 's/^/  /' "$logs/cuda-check.log" | tee -a "$summary" >&2
  [ "$rc" = 0 ] || { say "cuda-check failed: no smoke test, no reference-runtime sweep"; healthy=0; }
fi

# --- smoke tests: one tiny model per weight kind ------------------------------------------
if [ "$healthy" = 1 ]; then
  for preset in tiny tiny-llama tiny-qwen2; do
    smoke_model=$MEMCAL_MODEL_DIR/smoke-$preset.gguf
    "$PROFILER" synth --preset "$preset" -o "$smoke_model" > "$logs/smoke-synth-$preset.log" 2>&1 ||
      { say "synth $preset failed (logs/smoke-synth-$preset.log)"; healthy=0; break; }
    smoke_start=$(date +%s)
    timeout 120 "$PROFILER" run "$smoke_model" --device "$device" --ctx 256 --batch 2 \
      --ubatch 64 --decode 4 --timeout 100 --append "$out/smoke.jsonl" \
      > "$logs/smoke-$preset.log" 2>&1
    smoke_rc=$?
    say "smoke $preset: exit $smoke_rc in $(( $(date +%s) - smoke_start )) s (logs/smoke-$preset.log)"
    sed 's/^/  /' "$logs/smoke-$preset.log" | head -12 | tee -a "$summary" >&2
    if [ "$smoke_rc" != 0 ]; then
      say "smoke test $preset failed: no reference-runtime sweep (the error is in smoke.jsonl)"
      healthy=0
      break
    fi
  done
fi

# --- the sweep ---------------------------------------------------------------------------
if [ "$dry" = 1 ]; then
  sweep_args=(--model "$smoke_model" --device cpu --ctx 128,256 --batch 1,2 --ubatch 64
    --kv-dtype f16,f32)
  limit=${SWEEP_LIMIT_S:-300}
else
  sweep_args=(--suite cuda-default --models-dir "$MEMCAL_MODEL_DIR")
  limit=${SWEEP_LIMIT_S:-300}
fi
if [ "$healthy" = 0 ]; then
  # The models are still written, for llama.cpp below.
  "$PROFILER" sweep "${sweep_args[@]}" --models-only > "$logs/synth.log" 2>&1 ||
    say "writing the suite's models failed (logs/synth.log)"
  sweep_args=()
fi
sweep_rc=0
if [ "${#sweep_args[@]}" -gt 0 ]; then
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
fi

# --- llama.cpp with CUDA, on the suite's classic-type models ------------------------------
llama=${LLAMA_BIN:-${bundle:-/nonexistent}/llama.cpp/bin/llama-completion}
if [ "$dry" = 0 ] && [ -x "$llama" ]; then
  llama_limit=${LLAMA_LIMIT_S:-150}
  llama_start=$(date +%s)
  llama_out=$out/llama.cpp.cuda.jsonl
  "$llama" --version > "$logs/llama-version.log" 2>&1
  say "llama.cpp: $(head -3 "$logs/llama-version.log" | tr '\n' ' ')"
  # Rounds over the models as in the suite: (ctx batch ubatch kv gpu_layers prompt), where
  # gpu_layers "all" offloads every block and the output, "half" half the blocks.
  n_llama=0
  for cfg in "4096 1 512 f16 all 1024" "16384 2 512 f16 all 1024" "3000 3 384 q8_0 all 700" \
             "8192 1 512 f16 half 1024" "2048 4 256 f32 all 512"; do
    read -r ctx batch ub kv gl prompt <<< "$cfg"
    for m in "$MEMCAL_MODEL_DIR"/gpu-{ll,qw,lk,qf,l0}-*.gguf; do
      [ -e "$m" ] || continue
      left=$(( llama_limit - ($(date +%s) - llama_start) ))
      [ "$left" -gt 15 ] || break 2
      ngl=()
      if [ "$gl" = half ]; then
        # Blocks of each shape, as profiler/src/suite.rs (cuda_default) writes them.
        case $(basename "$m") in
          gpu-ll-*) blocks=16 ;; gpu-qw-*|gpu-lk-*) blocks=12 ;; gpu-qf-*) blocks=8 ;;
          gpu-l0-*) blocks=10 ;; *) blocks=0 ;;
        esac
        ngl=(--gpu-layers $(( blocks / 2 )))
      fi
      timeout --kill-after=10 "$left" "$PROFILER" exec --backend llama.cpp --engine "$llama" \
        --device "$device" "${ngl[@]}" --model "$m" --ctx "$ctx" --batch "$batch" --ubatch "$ub" \
        --kv-dtype "$kv" --flash-attn auto --prompt "$prompt" --decode 4 --timeout "$left" \
        --append "$llama_out" --resume --log "$logs/llama-$(basename "$m" .gguf)-$ctx-$batch-$gl.log" \
        >> "$logs/llama.log" 2>&1
      n_llama=$((n_llama + 1))
    done
  done
  say "llama.cpp: $n_llama runs in $(( $(date +%s) - llama_start )) s (logs/llama.log)"
fi

for f in "$out"/*.jsonl; do
  [ -e "$f" ] || continue
  n=$(grep -c . "$f")
  ok=$(grep -c '"status":"ok"' "$f")
  oom=$(grep -c '"status":"oom"' "$f")
  say "records: $(basename "$f"): $n ($ok ok, $oom oom, $((n - ok - oom)) error)"
done
[ "$healthy" = 1 ] || exit 3
[ "$sweep_rc" = 0 ] || exit 4
