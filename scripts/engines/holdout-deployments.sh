#!/usr/bin/env bash
# Held-out server and split runs: models no server or RPC sweep measured (SmolLM2 and Qwen2.5
# 0.5B requantized to Q4_0, Gemma 3 requantized to Q8_0) at configurations off the sweeps'
# grids (odd slot counts, contexts that are not multiples of the micro-batch, uneven splits
# and odd block counts kept on the client). Nothing was shaped or fitted on them:
# `cargo run --release -p calibration -- residuals --data calibration/holdout` reports them.
#
# Usage: scripts/engines/holdout-deployments.sh   (appends to calibration/holdout/)
# Env: PROFILER, MODELS_DIR, THREADS as in the sweeps.
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE=${MEMCAL_ENGINE_CACHE:-$HOME/.cache/memcal/engines}
BIN=$CACHE/llama.cpp-11434/bin
MODELS_DIR=${MODELS_DIR:-${MEMCAL_MODEL_CACHE:-$HOME/.cache/memcal/models}}
PROFILER=${PROFILER:-target/release/profiler}
THREADS=${THREADS:-2}
OUT=calibration/holdout
mkdir -p "$OUT"
ok=0; failed=0
count() { if "$@"; then ok=$((ok + 1)); else failed=$((failed + 1)); fi; }

serve() {
    local m=$1; shift
    count "$PROFILER" exec --backend llama.cpp --engine "$BIN/llama-server" --threads "$THREADS" \
        --model "$MODELS_DIR/$m" --serve --decode 4 "$@" --timeout 1800 \
        --append "$OUT/llama.cpp.server.cpu.jsonl" --resume
}
split() {
    local m=$1 engine=$BIN/llama-completion; shift
    case " $* " in *" --serve "*) engine=$BIN/llama-server ;; esac
    count "$PROFILER" exec --backend llama.cpp --engine "$engine" \
        --rpc-server "$BIN/ggml-rpc-server" --threads "$THREADS" --model "$MODELS_DIR/$m" \
        --decode 4 "$@" --timeout 1800 --append "$OUT/llama.cpp.rpc.cpu.jsonl" --resume
}

S=smollm2-135m-instruct-q4_1.requant-Q4_0.gguf
G=gemma3-270m-q4_k_m.requant-Q8_0.gguf
Q=qwen2.5-coder-0.5b-instruct-q4_k_m.requant-Q4_0.gguf
serve "$S" --slots 7 --ctx 2500 --ubatch 320 --prompt 90 --requests 2
serve "$S" --slots 2 --ctx 9999 --prompt 500 --requests 3 --kv-dtype q8_0 --flash-attn on
serve "$G" --slots 6 --ctx 1777 --ubatch 256 --prompt 300 --requests 2
serve "$G" --slots 3 --ctx 6000 --prompt 40 --requests 2 --kv-unified on
serve "$Q" --slots 5 --ctx 3333 --prompt 150 --requests 2
serve "$Q" --slots 12 --ctx 1200 --prompt 24 --requests 2 --cache-ram 0
split "$S" --hosts client,a,b --tensor-split 2,3 --ctx 5000 --prompt 100
split "$G" --hosts client,a,b,c --tensor-split 1,2,1 --ctx 3500 --ubatch 256 --prompt 400
split "$Q" --hosts client,a,b --tensor-split 1,1 --ctx 6000 --prompt 80 --gpu-layers 17
split "$Q" --hosts client,a --ctx 2222 --prompt 60 --serve --slots 3 --requests 2
echo "held-out deployment runs: $ok ok, $failed failed -> $OUT" >&2
