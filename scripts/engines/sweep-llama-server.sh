#!/usr/bin/env bash
# Measures llama.cpp's llama-server (CPU) on real GGUF models: parallel slots, context per
# slot, KV type, a unified KV buffer, the prompt cache, micro-batch, and a workload of
# concurrent requests in waves (every slot busy at once, then again), through
# `profiler exec --serve` (the server started on a free port, health-checked, driven, stopped;
# peak RSS of its whole tree from start to exit).
#
# Resumable: every configuration already recorded (status ok) in OUT is skipped.
#
# Usage: scripts/engines/sweep-llama-server.sh [OUT.jsonl]
#   OUT  default calibration/data/llama.cpp.server.cpu.jsonl
# Env:  SERVER_BIN   llama-server (default: the build of build-llama-cpp.sh)
#       MODELS_DIR   the models of fetch-models.sh and requantize-models.sh
#       PROFILER     the profiler binary (default target/release/profiler)
#       THREADS      engine threads (default 2)
#       ONLY         a substring: run only the models whose file name contains it
# Prompts are short (32 to 700 tokens): the KV cache is allocated at its full size at start
# whatever the prompt, and a 2-core machine prefills a few hundred tokens a second.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-calibration/data/llama.cpp.server.cpu.jsonl}
CACHE=${MEMCAL_ENGINE_CACHE:-$HOME/.cache/memcal/engines}
SERVER_BIN=${SERVER_BIN:-$CACHE/llama.cpp-11434/bin/llama-server}
MODELS_DIR=${MODELS_DIR:-${MEMCAL_MODEL_CACHE:-$HOME/.cache/memcal/models}}
PROFILER=${PROFILER:-target/release/profiler}
THREADS=${THREADS:-2}
ONLY=${ONLY:-}
[ -x "$SERVER_BIN" ] || { echo "no llama-server at $SERVER_BIN: run scripts/engines/build-llama-cpp.sh" >&2; exit 1; }
[ -x "$PROFILER" ] || { echo "no profiler at $PROFILER: cargo build --release -p profiler" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"

ok=0; failed=0
# serve MODEL SLOTS CTX UBATCH KV PROMPT REQUESTS [extra profiler flags...]
serve() {
    local m=$1 slots=$2 ctx=$3 ub=$4 kv=$5 prompt=$6 requests=$7
    shift 7
    [ -z "$ONLY" ] || [[ "$m" == *"$ONLY"* ]] || return 0
    [ -f "$MODELS_DIR/$m" ] || { echo "skip: $MODELS_DIR/$m missing" >&2; return 0; }
    local fa=auto
    [ "$kv" = f16 ] || fa=on
    if "$PROFILER" exec --backend llama.cpp --engine "$SERVER_BIN" --threads "$THREADS" \
        --model "$MODELS_DIR/$m" --serve --slots "$slots" --ctx "$ctx" --ubatch "$ub" \
        --kv-dtype "$kv" --flash-attn "$fa" --prompt "$prompt" --decode 4 \
        --requests "$requests" "$@" --timeout 1800 --append "$OUT" --resume; then
        ok=$((ok + 1))
    else
        failed=$((failed + 1))
    fi
}

# Every model: slots 1 to 16, one knob at a time around 4 slots of 4096, then off-grid
# points (contexts that are not multiples of the micro-batch, odd slot counts, prompts
# longer than the micro-batch).
grid() {
    local m=$1 bigctx=$2
    serve "$m" 1 4096 512 f16 128 2
    serve "$m" 2 4096 512 f16 128 2
    serve "$m" 4 4096 512 f16 128 2
    serve "$m" 8 2048 512 f16 64 2
    serve "$m" 16 1024 512 f16 32 2
    serve "$m" 4 "$bigctx" 512 f16 64 1
    serve "$m" 4 4096 512 q8_0 128 2
    serve "$m" 4 4096 512 f16 128 2 --kv-unified on
    serve "$m" 4 4096 512 f16 128 3 --cache-ram 0
    serve "$m" 4 4096 512 f16 256 3
    serve "$m" 3 3000 384 f16 700 2
    serve "$m" 5 1536 256 f16 200 2
    serve "$m" 8 4096 512 q8_0 64 2 --kv-unified on
    serve "$m" 16 512 512 f16 32 2
    serve "$m" 4 512 256 q8_0 200 3
}

# A shorter grid for the models above 1 GB (each prompt token costs more).
grid_large() {
    local m=$1
    serve "$m" 1 8192 512 f16 64 2
    serve "$m" 4 4096 512 f16 64 2
    serve "$m" 8 2048 512 q8_0 32 2
    serve "$m" 16 2048 512 f16 16 2
    serve "$m" 2 32768 512 f16 64 1
    serve "$m" 4 4096 512 f16 64 2 --kv-unified on
    serve "$m" 3 5000 384 f16 300 2
}

grid smollm2-135m-instruct-q4_1.gguf 32768
grid smollm2-135m-instruct-q4_1.requant-Q8_0.gguf 16384
grid gemma3-270m-q4_k_m.gguf 32768
grid gemma3-270m-q4_k_m.requant-Q4_0.gguf 16384
grid qwen2.5-coder-0.5b-instruct-q4_k_m.gguf 32768
grid qwen2.5-coder-0.5b-instruct-q4_k_m.requant-Q8_0.gguf 16384
grid_large qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
grid_large qwen2.5-coder-1.5b-instruct-q4_k_m.requant-Q4_0.gguf
echo "llama-server sweep: $ok ok, $failed failed -> $OUT" >&2
