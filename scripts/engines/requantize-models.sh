#!/usr/bin/env bash
# Makes other weight types of the real models with llama.cpp's own llama-quantize
# (--allow-requantize), so every weight type measured has more than one architecture
# behind it: <model>.requant-<TYPE>.gguf beside the originals. Memory depends on the
# shapes and types, not on the weights' values, so these measure like published files of
# those types. About 2 minutes on 2 cores. Idempotent.
set -euo pipefail
CACHE=${MEMCAL_ENGINE_CACHE:-$HOME/.cache/memcal/engines}
QUANTIZE=${QUANTIZE:-$CACHE/llama.cpp-11434/bin/llama-quantize}
MODELS_DIR=${MODELS_DIR:-${MEMCAL_MODEL_CACHE:-$HOME/.cache/memcal/models}}
[ -x "$QUANTIZE" ] || { echo "no llama-quantize at $QUANTIZE (ninja llama-quantize in the llama.cpp build)" >&2; exit 1; }
requant() {
    local src=$MODELS_DIR/$1.gguf type=$2 out=$MODELS_DIR/$1.requant-$2.gguf
    [ -f "$src" ] || { echo "missing $src: run scripts/engines/fetch-models.sh" >&2; exit 1; }
    if [ ! -f "$out" ]; then
        "$QUANTIZE" --allow-requantize "$src" "$out.tmp" "$type" 2 >/dev/null 2>&1 \
            || { rm -f "$out.tmp"; echo "llama-quantize failed: $src -> $type" >&2; exit 1; }
        mv "$out.tmp" "$out"
    fi
    printf '%s\t%s\n' "$out" "$(stat -c %s "$out")"
}
requant smollm2-135m-instruct-q4_1 Q8_0
requant smollm2-135m-instruct-q4_1 Q4_0
requant gemma3-270m-q4_k_m Q8_0
requant gemma3-270m-q4_k_m Q4_0
requant qwen2.5-coder-0.5b-instruct-q4_k_m Q8_0
requant qwen2.5-coder-0.5b-instruct-q4_k_m Q4_0
requant qwen2.5-coder-1.5b-instruct-q4_k_m Q4_0
