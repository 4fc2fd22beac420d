#!/usr/bin/env bash
# Measures llama.cpp (CPU) on real GGUF models over a grid of the knobs that change its
# memory, through `profiler exec --engine` (one fresh process per configuration, peak RSS
# of its whole tree, the engine's own buffer lines parsed into each record).
#
# Resumable: every configuration already recorded (status ok) in OUT is skipped, so a
# sweep that was stopped picks up where it was. A failed or OOM run is a record too.
#
# Usage: scripts/engines/sweep-llama-cpp.sh [OUT.jsonl]
#   OUT  default calibration/data/llama.cpp.cpu.jsonl
# Env:  LLAMA_BIN    llama-completion (default: the build of build-llama-cpp.sh)
#       MODELS_DIR   the models of fetch-models.sh and requantize-models.sh
#       PROFILER     the profiler binary (default target/release/profiler)
#       THREADS      engine threads (default 2)
#       ONLY         a substring: run only the models whose file name contains it
# Takes about 40 minutes on 2 cores for the whole grid (most of it in long prompts).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-calibration/data/llama.cpp.cpu.jsonl}
CACHE=${MEMCAL_ENGINE_CACHE:-$HOME/.cache/memcal/engines}
LLAMA_BIN=${LLAMA_BIN:-$CACHE/llama.cpp-11434/bin/llama-completion}
MODELS_DIR=${MODELS_DIR:-${MEMCAL_MODEL_CACHE:-$HOME/.cache/memcal/models}}
PROFILER=${PROFILER:-target/release/profiler}
THREADS=${THREADS:-2}
ONLY=${ONLY:-}
[ -x "$LLAMA_BIN" ] || { echo "no llama-completion at $LLAMA_BIN: run scripts/engines/build-llama-cpp.sh" >&2; exit 1; }
[ -x "$PROFILER" ] || { echo "no profiler at $PROFILER: cargo build --release -p profiler" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"

ok=0; failed=0
# run MODEL CTX BATCH UBATCH KV FA MMAP REPACK PROMPT DECODE
run() {
    local m=$1
    [ -z "$ONLY" ] || [[ "$m" == *"$ONLY"* ]] || return 0
    [ -f "$MODELS_DIR/$m" ] || { echo "skip: $MODELS_DIR/$m missing" >&2; return 0; }
    if "$PROFILER" exec --backend llama.cpp --engine "$LLAMA_BIN" --threads "$THREADS" \
        --model "$MODELS_DIR/$m" --ctx "$2" --batch "$3" --ubatch "$4" --kv-dtype "$5" \
        --flash-attn "$6" --mmap "$7" --repack "$8" --prompt "$9" --decode "${10}" \
        --timeout 900 --append "$OUT" --resume; then
        ok=$((ok + 1))
    else
        failed=$((failed + 1))
    fi
}

# Every model: a base point, then one knob at a time, then mixed points (off-grid
# contexts that are not multiples of 256 or of the micro-batch, odd batches).
grid() {
    local m=$1 long=$2 bigctx=$3
    run "$m" 4096 1 512 f16 auto on on 64 4
    run "$m" 512 1 512 f16 auto on on 64 4
    run "$m" 2048 1 512 f16 auto on on 64 4
    run "$m" 8192 1 512 f16 auto on on 64 4
    run "$m" "$bigctx" 1 512 f16 auto on on 64 4
    run "$m" 4096 1 128 f16 auto on on 64 4
    run "$m" 4096 1 2048 f16 auto on on 64 4
    run "$m" 4096 1 512 q8_0 on on on 64 4
    run "$m" 4096 1 512 q4_0 on on on 64 4
    run "$m" 4096 1 512 f32 off on on 64 4
    run "$m" 4096 1 512 f16 off on on 64 4
    run "$m" 4096 1 512 f16 auto off on 64 4
    run "$m" 4096 1 512 f16 auto on off 64 4
    run "$m" 4096 1 512 f16 auto off off 64 4
    run "$m" 4096 1 512 f16 auto on on "$long" 4
    run "$m" 4096 1 512 f16 off on on "$long" 4
    run "$m" 4096 1 128 f16 off off on "$long" 8
    run "$m" 4096 1 4096 f16 off on on "$long" 2
    run "$m" 4096 1 4096 f16 on on off "$long" 2
    run "$m" 2048 2 512 f16 auto on on 64 4
    run "$m" 2048 4 256 q8_0 on off on 64 4
    run "$m" 1000 3 384 f16 off on on 200 4
    run "$m" 3000 1 1000 f16 auto on on 900 4
    run "$m" 5000 5 512 q8_0 on off off 300 4
    run "$m" 12345 1 700 f16 off on on 64 4
    run "$m" 7777 2 4096 q4_0 on on on 64 4
    run "$m" 16384 1 256 f16 on off on 64 4
    run "$m" 1536 1 1536 f16 off off off "$long" 1
    run "$m" 6000 1 300 f32 off on on 500 4
    run "$m" 24000 1 512 q8_0 on on off 64 4
}

grid smollm2-135m-instruct-q4_1.gguf 1024 32768
grid gemma3-270m-q4_k_m.gguf 1024 32768
grid qwen2.5-coder-0.5b-instruct-q4_k_m.gguf 768 32768
grid qwen2.5-coder-1.5b-instruct-q4_k_m.gguf 384 32768
# Requantized copies of the real models (scripts/engines/requantize-models.sh): other
# weight types of the same architectures, a smaller grid each.
for m in "$MODELS_DIR"/*.requant-*.gguf; do
    [ -f "$m" ] || continue
    b=$(basename "$m")
    run "$b" 4096 1 512 f16 auto on on 64 4
    run "$b" 2048 1 512 f16 auto on off 64 4
    run "$b" 8192 2 256 q8_0 on off on 64 4
    run "$b" 4096 1 2048 f16 off on on 512 2
    run "$b" 3333 1 777 f16 auto off off 300 4
    run "$b" 16384 1 512 f16 on on on 64 4
done
echo "llama.cpp sweep: $ok ok, $failed failed or refused; records in $OUT" >&2
