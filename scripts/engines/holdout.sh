#!/usr/bin/env bash
# Measures models and configurations that no engine model or table was shaped or fitted on,
# into calibration/holdout/ (which `calibration fit` does not read), so the engines'
# accuracy can be checked where nothing was tuned:
#   cargo run --release -p calibration -- residuals --data calibration/holdout
# llama.cpp: Qwen2.5-Coder 0.5B requantized to IQ4_NL (a repacked type never measured
# before) and Q6_K, SmolLM2 to Q5_K_M, at contexts, micro-batches and batches off the
# sweep grid. bitnet.cpp and BitNet-rs: a BitNet shape never measured (16 layers, hidden
# 1280, 10/2 heads, FFN 3584, vocabulary 40000). About 10 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE=${MEMCAL_ENGINE_CACHE:-$HOME/.cache/memcal/engines}
MODELS_DIR=${MODELS_DIR:-${MEMCAL_MODEL_CACHE:-$HOME/.cache/memcal/models}}
PROFILER=${PROFILER:-target/release/profiler}
LLAMA_BIN=${LLAMA_BIN:-$CACHE/llama.cpp-11434/bin/llama-completion}
QUANTIZE=${QUANTIZE:-$CACHE/llama.cpp-11434/bin/llama-quantize}
BITNET_BIN=${BITNET_BIN:-$(ls -d "$CACHE"/bitnet.cpp-*/bin/llama-cli 2>/dev/null | head -1)}
BITNET_RS_BIN=${BITNET_RS_BIN:-$(ls -d "$CACHE"/bitnet-rs-*/bin/bitnet 2>/dev/null | head -1)}
OUT=calibration/holdout
mkdir -p "$OUT"
requant() {
    [ -f "$MODELS_DIR/$3" ] || "$QUANTIZE" --allow-requantize "$MODELS_DIR/$1" "$MODELS_DIR/$3" "$2" 2 >/dev/null 2>&1
}
requant qwen2.5-coder-0.5b-instruct-q4_k_m.gguf IQ4_NL qwen-holdout-IQ4_NL.gguf
requant qwen2.5-coder-0.5b-instruct-q4_k_m.gguf Q6_K qwen-holdout-Q6_K.gguf
requant smollm2-135m-instruct-q4_1.gguf Q5_K_M smollm2-holdout-Q5_K_M.gguf
# llama MODEL CTX BATCH UBATCH KV FA MMAP REPACK PROMPT DECODE
llama() {
    "$PROFILER" exec --backend llama.cpp --engine "$LLAMA_BIN" --model "$MODELS_DIR/$1" \
        --ctx "$2" --batch "$3" --ubatch "$4" --kv-dtype "$5" --flash-attn "$6" --mmap "$7" \
        --repack "$8" --prompt "$9" --decode "${10}" --append "$OUT/llama.cpp.cpu.jsonl" --resume || true
}
llama qwen-holdout-IQ4_NL.gguf 9999 1 333 f16 auto on on 150 3
llama qwen-holdout-IQ4_NL.gguf 3500 7 640 q8_0 on off on 90 3
llama qwen-holdout-IQ4_NL.gguf 20000 1 1500 q4_1 on on off 700 2
llama qwen-holdout-Q6_K.gguf 9999 1 333 f16 off on on 400 3
llama qwen-holdout-Q6_K.gguf 2222 3 222 q5_0 on off on 50 3
llama smollm2-holdout-Q5_K_M.gguf 9999 1 333 f16 auto on on 150 3
llama smollm2-holdout-Q5_K_M.gguf 6500 2 2500 f16 off on on 600 2
llama smollm2-holdout-Q5_K_M.gguf 14000 1 96 q8_0 on off off 64 5
f=$MODELS_DIR/synth-bitnet-holdout-1280.gguf
[ -f "$f" ] || "$PROFILER" synth --arch bitnet --layers 16 --hidden 1280 --heads 10 --kv-heads 2 \
    --ffn 3584 --vocab 40000 --ctx-train 4096 --qtype I2_S --tied -o "$f" >&2
for c in "3333 1 444 f16 auto on 120" "1700 2 256 q8_0 on off 60" "4096 1 1024 f16 off on 700"; do
    set -- $c
    "$PROFILER" exec --backend bitnet.cpp --engine "$BITNET_BIN" --model "$f" --ctx "$1" \
        --batch "$2" --ubatch "$3" --kv-dtype "$4" --flash-attn "$5" --mmap "$6" --prompt "$7" \
        --decode 3 --append "$OUT/bitnet.cpp.cpu.jsonl" --resume || true
done
g=$MODELS_DIR/synth-bitnetrs-holdout-1280.gguf
[ -f "$g" ] || "$PROFILER" synth --arch bitnet-b1.58 --layers 16 --hidden 1280 --heads 10 --kv-heads 2 \
    --ffn 3584 --vocab 40000 --ctx-train 3072 --qtype I2_S --tied -o "$g" >&2
for c in "40 4" "12 20"; do
    set -- $c
    "$PROFILER" exec --backend bitnet-rs --engine "$BITNET_RS_BIN" --model "$g" --ctx 3072 \
        --prompt "$1" --decode "$2" --append "$OUT/bitnet-rs.cpu.jsonl" --resume || true
done
