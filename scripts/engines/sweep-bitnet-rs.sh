#!/usr/bin/env bash
# Measures BitNet-rs's `bitnet run` (CPU) on synthetic BitNet b1.58 models of four shapes
# up to the 2B-4T shape (and two trained contexts of one shape), through `profiler exec
# --engine` (one fresh process per configuration, peak RSS of the whole tree).
#
# What the CLI needs to run a synthetic model (see scripts/engines/README.md):
# - architecture `bitnet-b1.58` (its hyperparameters are read only under that prefix or
#   `llama`); tied embeddings; I2_S projections of microsoft's size (ne/4 + 32, which it
#   accepts above 124,000 weights), hidden and FFN widths multiples of 256;
# - `--allow-mock`: the file's tokenizer is a plain list, not a SentencePiece blob, so it
#   falls back to a byte-level mock tokenizer (one token per byte);
# - no context flag: the context is `bitnet-b1.58.context_length` of the file;
# - threads through RAYON_NUM_THREADS (`--threads` needs `--deterministic`).
#
# Resumable (records already in OUT with status ok are skipped).
# Usage: scripts/engines/sweep-bitnet-rs.sh [OUT.jsonl]
#   OUT  default calibration/data/bitnet-rs.cpu.jsonl
# Env:  BITNET_RS_BIN, MODELS_DIR, PROFILER, THREADS, ONLY. About 30 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-calibration/data/bitnet-rs.cpu.jsonl}
CACHE=${MEMCAL_ENGINE_CACHE:-$HOME/.cache/memcal/engines}
BITNET_RS_BIN=${BITNET_RS_BIN:-$(ls -d "$CACHE"/bitnet-rs-*/bin/bitnet 2>/dev/null | head -1)}
MODELS_DIR=${MODELS_DIR:-${MEMCAL_MODEL_CACHE:-$HOME/.cache/memcal/models}}
PROFILER=${PROFILER:-target/release/profiler}
THREADS=${THREADS:-2}
ONLY=${ONLY:-}
[ -x "$BITNET_RS_BIN" ] || { echo "no BitNet-rs binary (run scripts/engines/build-bitnet-rs.sh)" >&2; exit 1; }
[ -x "$PROFILER" ] || { echo "no profiler at $PROFILER: cargo build --release -p profiler" >&2; exit 1; }
mkdir -p "$MODELS_DIR" "$(dirname "$OUT")"

# synth NAME LAYERS HIDDEN HEADS KV_HEADS FFN VOCAB CTX_TRAIN
synth() {
    local f=$MODELS_DIR/synth-bitnetrs-$1.gguf
    [ -f "$f" ] || "$PROFILER" synth --arch bitnet-b1.58 --layers "$2" --hidden "$3" \
        --heads "$4" --kv-heads "$5" --ffn "$6" --vocab "$7" --ctx-train "$8" --qtype I2_S \
        --tied -o "$f" >&2
}
synth s12-1024 12 1024 8 8 2816 32000 2048
synth large-1536 24 1536 16 16 4096 32002 2048
synth m20-2048 20 2048 16 4 5632 48000 4096
synth m20-2048-c8k 20 2048 16 4 5632 48000 8192
synth 2b4t-2560 30 2560 20 5 6912 128256 4096

ok=0; failed=0
# run MODEL CTX PROMPT DECODE   (CTX: the file's trained context, for the record)
run() {
    local m=synth-bitnetrs-$1.gguf
    [ -z "$ONLY" ] || [[ "$m" == *"$ONLY"* ]] || return 0
    if "$PROFILER" exec --backend bitnet-rs --engine "$BITNET_RS_BIN" --threads "$THREADS" \
        --model "$MODELS_DIR/$m" --ctx "$2" --prompt "$3" --decode "$4" \
        --timeout 1200 --append "$OUT" --resume; then
        ok=$((ok + 1))
    else
        failed=$((failed + 1))
    fi
}
for spec in s12-1024:2048 large-1536:2048 m20-2048:4096 m20-2048-c8k:8192 2b4t-2560:4096; do
    m=${spec%%:*}; c=${spec##*:}
    run "$m" "$c" 8 1
    run "$m" "$c" 64 4
    run "$m" "$c" 300 4
    run "$m" "$c" 16 16
    run "$m" "$c" 32 48
    run "$m" "$c" 200 24
    run "$m" "$c" 8 96
done
echo "bitnet-rs sweep: $ok ok, $failed failed; records in $OUT" >&2
