#!/usr/bin/env bash
# Measures llama.cpp split over RPC workers (CPU): one to three `ggml-rpc-server`s on
# localhost ports stand for the machines, the client (llama-completion, or llama-server
# with --serve) runs against them with --rpc, --tensor-split and -ngl; every process's peak
# RSS is its own record (roles rpc-client and rpc-server), through `profiler exec --hosts`.
#
# Resumable: every configuration whose client is already recorded (status ok) is skipped.
#
# Usage: scripts/engines/sweep-llama-rpc.sh [OUT.jsonl]
#   OUT  default calibration/data/llama.cpp.rpc.cpu.jsonl
# Env:  LLAMA_BIN    llama-completion; SERVER_BIN llama-server; RPC_BIN ggml-rpc-server
#                    (default: the build of build-llama-cpp.sh)
#       MODELS_DIR, PROFILER, THREADS, ONLY as in sweep-llama-cpp.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-calibration/data/llama.cpp.rpc.cpu.jsonl}
CACHE=${MEMCAL_ENGINE_CACHE:-$HOME/.cache/memcal/engines}
BIN=$CACHE/llama.cpp-11434/bin
LLAMA_BIN=${LLAMA_BIN:-$BIN/llama-completion}
SERVER_BIN=${SERVER_BIN:-$BIN/llama-server}
RPC_BIN=${RPC_BIN:-$BIN/ggml-rpc-server}
MODELS_DIR=${MODELS_DIR:-${MEMCAL_MODEL_CACHE:-$HOME/.cache/memcal/models}}
PROFILER=${PROFILER:-target/release/profiler}
THREADS=${THREADS:-2}
ONLY=${ONLY:-}
for b in "$LLAMA_BIN" "$SERVER_BIN" "$RPC_BIN"; do
    [ -x "$b" ] || { echo "no $b: run scripts/engines/build-llama-cpp.sh" >&2; exit 1; }
done
[ -x "$PROFILER" ] || { echo "no profiler at $PROFILER: cargo build --release -p profiler" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"

ok=0; failed=0
# split MODEL HOSTS TENSOR_SPLIT CTX UBATCH PROMPT [extra profiler flags...]
split() {
    local m=$1 hosts=$2 ts=$3 ctx=$4 ub=$5 prompt=$6
    shift 6
    [ -z "$ONLY" ] || [[ "$m" == *"$ONLY"* ]] || return 0
    [ -f "$MODELS_DIR/$m" ] || { echo "skip: $MODELS_DIR/$m missing" >&2; return 0; }
    local engine=$LLAMA_BIN
    case " $* " in *" --serve "*) engine=$SERVER_BIN ;; esac
    if "$PROFILER" exec --backend llama.cpp --engine "$engine" --rpc-server "$RPC_BIN" \
        --threads "$THREADS" --model "$MODELS_DIR/$m" --hosts "$hosts" --tensor-split "$ts" \
        --ctx "$ctx" --ubatch "$ub" --prompt "$prompt" --decode 4 "$@" \
        --timeout 1800 --append "$OUT" --resume; then
        ok=$((ok + 1))
    else
        failed=$((failed + 1))
    fi
}

# Every model: one, two and three workers, uneven shares, blocks kept on the client
# (-ngl below the block count), no mmap, a quantized cache, a served client, and off-grid
# points (contexts that are not multiples of the micro-batch, prompts longer than it).
grid() {
    local m=$1 half=$2
    split "$m" client,w1 1 4096 512 64
    split "$m" client,w1,w2 1,1 4096 512 64
    split "$m" client,w1,w2 3,1 4096 512 64
    split "$m" client,w1,w2,w3 1,1,1 8192 512 64
    split "$m" client,w1,w2 1,1 4096 512 64 --gpu-layers "$half"
    split "$m" client,w1,w2 1,1 4096 512 64 --mmap off
    split "$m" client,w1,w2 1,1 8192 512 64 --kv-dtype q8_0 --flash-attn on
    split "$m" client,w1,w2 1,1 2048 512 64 --serve --slots 4 --requests 2
    split "$m" client,w1 1 2000 1024 300
    split "$m" client,w1,w2,w3 2,1,1 3000 384 700
}

grid smollm2-135m-instruct-q4_1.gguf 16
grid smollm2-135m-instruct-q4_1.requant-Q8_0.gguf 16
grid gemma3-270m-q4_k_m.gguf 10
grid qwen2.5-coder-0.5b-instruct-q4_k_m.gguf 12
grid qwen2.5-coder-0.5b-instruct-q4_k_m.requant-Q8_0.gguf 12
grid qwen2.5-coder-1.5b-instruct-q4_k_m.gguf 14
echo "llama.cpp RPC sweep: $ok ok, $failed failed -> $OUT" >&2
