#!/usr/bin/env bash
# Measures bitnet.cpp (microsoft/BitNet on its llama.cpp fork, I2_S kernels, CPU) on
# synthetic BitNet b1.58 models of four shapes up to the 2B-4T shape, through `profiler
# exec --engine` (one fresh process per configuration; the fork's buffer lines are
# parsed into each record). The models are written by `profiler synth` with the fork's
# architecture name (`bitnet`), tied embeddings and a vocabulary it loads (SentencePiece
# with byte tokens below 65536 tokens, byte-level BPE with merges above).
#
# Resumable (records already in OUT with status ok are skipped).
# Usage: scripts/engines/sweep-bitnet-cpp.sh [OUT.jsonl]
#   OUT  default calibration/data/bitnet.cpp.cpu.jsonl
# Env:  BITNET_BIN (llama-cli of build-bitnet-cpp.sh), MODELS_DIR, PROFILER, THREADS, ONLY
# About 25 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-calibration/data/bitnet.cpp.cpu.jsonl}
CACHE=${MEMCAL_ENGINE_CACHE:-$HOME/.cache/memcal/engines}
BITNET_BIN=${BITNET_BIN:-$(ls -d "$CACHE"/bitnet.cpp-*/bin/llama-cli 2>/dev/null | head -1)}
MODELS_DIR=${MODELS_DIR:-${MEMCAL_MODEL_CACHE:-$HOME/.cache/memcal/models}}
PROFILER=${PROFILER:-target/release/profiler}
THREADS=${THREADS:-2}
ONLY=${ONLY:-}
[ -x "$BITNET_BIN" ] || { echo "no bitnet.cpp llama-cli (run scripts/engines/build-bitnet-cpp.sh)" >&2; exit 1; }
[ -x "$PROFILER" ] || { echo "no profiler at $PROFILER: cargo build --release -p profiler" >&2; exit 1; }
mkdir -p "$MODELS_DIR" "$(dirname "$OUT")"

# synth NAME LAYERS HIDDEN HEADS KV_HEADS FFN VOCAB
synth() {
    local f=$MODELS_DIR/synth-bitnet-$1.gguf
    [ -f "$f" ] || "$PROFILER" synth --arch bitnet --layers "$2" --hidden "$3" --heads "$4" \
        --kv-heads "$5" --ffn "$6" --vocab "$7" --ctx-train 4096 --qtype I2_S --tied -o "$f" >&2
}
synth s12-1024 12 1024 8 8 2816 32000
synth large-1536 24 1536 16 16 4096 32002
synth m20-2048 20 2048 16 4 5632 48000
synth 2b4t-2560 30 2560 20 5 6912 128256

ok=0; failed=0
# run MODEL CTX BATCH UBATCH KV FA MMAP PROMPT DECODE
run() {
    local m=synth-bitnet-$1.gguf
    [ -z "$ONLY" ] || [[ "$m" == *"$ONLY"* ]] || return 0
    if "$PROFILER" exec --backend bitnet.cpp --engine "$BITNET_BIN" --threads "$THREADS" \
        --model "$MODELS_DIR/$m" --ctx "$2" --batch "$3" --ubatch "$4" --kv-dtype "$5" \
        --flash-attn "$6" --mmap "$7" --prompt "$8" --decode "$9" \
        --timeout 900 --append "$OUT" --resume; then
        ok=$((ok + 1))
    else
        failed=$((failed + 1))
    fi
}
for m in s12-1024 large-1536 m20-2048 2b4t-2560; do
    run $m 2048 1 512 f16 auto on 64 4
    run $m 512 1 512 f16 auto on 64 4
    run $m 4096 1 512 f16 auto on 64 4
    run $m 4096 1 128 f16 auto off 64 4
    run $m 2048 1 512 q8_0 on on 64 4
    run $m 2048 1 512 f16 on off 64 4
    run $m 3000 1 256 f16 off on 300 4
    run $m 1000 3 384 f16 auto on 100 4
    run $m 2048 2 512 f32 off off 64 4
    run $m 4096 1 1024 f16 off on 500 2
    run $m 1536 1 1536 q8_0 on on 64 4
    run $m 2500 1 700 f16 off off 200 4
done
echo "bitnet.cpp sweep: $ok ok, $failed failed; records in $OUT" >&2
