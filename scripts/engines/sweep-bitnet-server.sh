#!/usr/bin/env bash
# Measures bitnet.cpp's llama-server (the 2024 fork's server: slots over one KV cache of
# -c cells, no prompt cache) on the synthetic BitNet shapes of sweep-bitnet-cpp.sh (made
# there, or here when missing) with `profiler exec --serve`: slots 1-8, contexts 512-8192
# per slot, f16/q8_0 KV, one to three waves of requests. Held-out points (a shape and
# configurations no fit sees) go to calibration/holdout/.
#
#   bash scripts/engines/sweep-bitnet-server.sh [OUT.jsonl] [HOLDOUT.jsonl]
#
# Env: BITNET_SERVER (default: the cached build's llama-server), MODELS_DIR, PROFILER,
# THREADS, ONLY (a model-name substring).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-calibration/data/bitnet.cpp.server.cpu.jsonl}
HOLD=${2:-calibration/holdout/bitnet.cpp.server.cpu.jsonl}
CACHE=${MEMCAL_ENGINE_CACHE:-$HOME/.cache/memcal/engines}
SERVER_BIN=${BITNET_SERVER:-$(ls -d "$CACHE"/bitnet.cpp-*/bin/llama-server 2>/dev/null | head -1)}
MODELS_DIR=${MODELS_DIR:-${MEMCAL_MODEL_CACHE:-$HOME/.cache/memcal/models}}
PROFILER=${PROFILER:-target/release/profiler}
THREADS=${THREADS:-2}
ONLY=${ONLY:-}
[ -x "$SERVER_BIN" ] || { echo "no bitnet.cpp llama-server (run scripts/engines/build-bitnet-cpp.sh)" >&2; exit 1; }
[ -x "$PROFILER" ] || { echo "no profiler at $PROFILER: cargo build --release -p profiler" >&2; exit 1; }
mkdir -p "$MODELS_DIR" "$(dirname "$OUT")" "$(dirname "$HOLD")"

synth() {
    local f=$MODELS_DIR/synth-bitnet-$1.gguf
    [ -f "$f" ] || "$PROFILER" synth --arch bitnet --layers "$2" --hidden "$3" --heads "$4" \
        --kv-heads "$5" --ffn "$6" --vocab "$7" --ctx-train 8192 --qtype I2_S --tied -o "$f" >&2
}
synth s12-1024 12 1024 8 8 2816 32000
synth m20-2048 20 2048 16 4 5632 48000
synth large-1536 24 1536 16 16 4096 32002

ok=0; failed=0
serve() {
    local out=$1 m=synth-bitnet-$2.gguf slots=$3 ctx=$4 ub=$5 kv=$6 prompt=$7 requests=$8
    [ -z "$ONLY" ] || [[ "$m" == *"$ONLY"* ]] || return 0
    local fa=auto
    [ "$kv" = f16 ] || fa=on
    if "$PROFILER" exec --backend bitnet.cpp --engine "$SERVER_BIN" --threads "$THREADS" \
        --model "$MODELS_DIR/$m" --serve --slots "$slots" --ctx "$ctx" --ubatch "$ub" \
        --kv-dtype "$kv" --flash-attn "$fa" --prompt "$prompt" --decode 4 \
        --requests "$requests" --timeout 900 --append "$out" --resume; then
        ok=$((ok + 1))
    else
        failed=$((failed + 1))
    fi
}

for m in s12-1024 m20-2048; do
    serve "$OUT" $m 1 4096 512 f16 128 2
    serve "$OUT" $m 2 4096 512 f16 128 2
    serve "$OUT" $m 4 2048 512 f16 128 2
    serve "$OUT" $m 8 1024 512 f16 64 2
    serve "$OUT" $m 4 8192 512 f16 64 1
    serve "$OUT" $m 4 2048 512 q8_0 128 2
    serve "$OUT" $m 3 3000 384 f16 300 3
    serve "$OUT" $m 2 512 256 f16 200 2
done
# Held out: a shape no fit sees, odd slot counts and contexts off the micro-batch grid.
serve "$HOLD" large-1536 3 3333 384 f16 150 2
serve "$HOLD" large-1536 5 1500 256 q8_0 100 2
serve "$HOLD" s12-1024 7 1111 512 f16 90 2
echo "bitnet.cpp llama-server sweep: $ok ok, $failed failed -> $OUT, $HOLD" >&2
