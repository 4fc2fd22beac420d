#!/usr/bin/env bash
# Writes the synthetic models of the general-case sweep (sweep-general.sh): mixture-of-
# experts shapes (qwen3moe, Mixtral-style llama) and dense 7-8B shapes, with `profiler synth
# --fast-blocks` (each quantized type's exact block layout, random bytes under small
# scales: llama.cpp loads and runs them; memory does not depend on the values). Models
# whose names start with `ho-` are held out: sweep-general.sh measures them into
# calibration/holdout/, which `calibration fit` does not read. Idempotent; about 19 GB,
# 3 minutes on 2 cores.
#
# Usage: scripts/engines/general-models.sh [DIR]   (default ~/.cache/memcal/models/synth)
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:-${MEMCAL_MODEL_CACHE:-$HOME/.cache/memcal/models}/synth}
PROFILER=${PROFILER:-target/release/profiler}
[ -x "$PROFILER" ] || { echo "no profiler at $PROFILER: cargo build --release -p profiler" >&2; exit 1; }
mkdir -p "$DIR"
# synth NAME ARGS...
synth() {
    local name=$1
    shift
    [ -f "$DIR/$name.gguf" ] || "$PROFILER" synth --fast-blocks --seed 17 -o "$DIR/$name.gguf" "$@" >&2
    # (--fast-blocks leaves I2_S alone: ternary blocks are always packed from real codes.)
}
# Mixture of experts (fitted).
synth moe-qwen3-12x1024-e32-q4k --arch qwen3moe --layers 12 --hidden 1024 --heads 16 \
    --kv-heads 4 --ffn 512 --experts 32 --experts-used 4 --vocab 32000 --qtype Q4_K
synth moe-qwen3-16x2048-e64-q4_0 --arch qwen3moe --layers 16 --hidden 2048 --heads 32 \
    --kv-heads 4 --head-dim 128 --ffn 768 --experts 64 --experts-used 8 --vocab 151936 \
    --qtype Q4_0 --untied
synth moe-mixtral-8x2048-e8-q4_0 --arch llama --layers 8 --hidden 2048 --heads 16 \
    --kv-heads 8 --ffn 5632 --experts 8 --experts-used 2 --vocab 32000 --qtype Q4_0 --untied
synth moe-qwen3-8x1536-e48-q8_0 --arch qwen3moe --layers 8 --hidden 1536 --heads 12 \
    --kv-heads 4 --head-dim 128 --ffn 512 --experts 48 --experts-used 6 --vocab 32000 \
    --qtype Q8_0
# Dense 7-8B shapes (fitted): Mistral-7B in Q5_K (not repacked on x86), Qwen2.5-7B in Q4_0.
synth dense-mistral7b-q5k --arch llama --layers 32 --hidden 4096 --heads 32 --kv-heads 8 \
    --ffn 14336 --vocab 32000 --qtype Q5_K --untied --sliding-window 4096
synth dense-qwen2-7b-q4_0 --arch qwen2 --layers 28 --hidden 3584 --heads 28 --kv-heads 4 \
    --ffn 18944 --vocab 152064 --qtype Q4_0 --embd-type Q4_0 --untied
# Held out: shapes and types no fit sees.
synth ho-moe-mixtral-6x1536-e16-q4k --arch llama --layers 6 --hidden 1536 --heads 12 \
    --kv-heads 4 --ffn 2048 --experts 16 --experts-used 4 --vocab 48000 --qtype Q4_K --untied
synth ho-moe-qwen3-10x1280-e40-iq4nl --arch qwen3moe --layers 10 --hidden 1280 --heads 10 \
    --kv-heads 2 --head-dim 128 --ffn 640 --experts 40 --experts-used 5 --vocab 50000 \
    --qtype IQ4_NL
synth ho-dense-llama3-8b-q4k --arch llama --layers 32 --hidden 4096 --heads 32 --kv-heads 8 \
    --ffn 14336 --vocab 128256 --qtype Q4_K --embd-type Q4_K --untied
synth ho-dense-gemma2-28x3072-q6k --arch gemma2 --layers 28 --hidden 3072 --heads 16 \
    --kv-heads 8 --head-dim 256 --ffn 18432 --vocab 64000 --qtype Q6_K --sliding-window 4096
# gpt-oss (held out: no gpt-oss file was ever fitted): MXFP4 experts and projections, q/k/v,
# output, router and expert biases, attention sinks, every other block on a 128-token
# window. The gpt-oss-20b shape cut to 4 blocks (hidden 2880, 64/8 heads of 64, 32
# experts of 2880, 4 used, its 201088-token vocabulary), and a small one.
synth ho-gptoss-4x2880-e32-mxfp4 --arch gpt-oss --layers 4 --hidden 2880 --heads 64 \
    --kv-heads 8 --head-dim 64 --ffn 2880 --experts 32 --experts-used 4 --vocab 201088 \
    --ctx-train 131072 --qtype MXFP4 --untied --sliding-window 128
synth ho-gptoss-8x1024-e16-mxfp4 --arch gpt-oss --layers 8 --hidden 1024 --heads 16 \
    --kv-heads 4 --head-dim 64 --ffn 1024 --experts 16 --experts-used 4 --vocab 50000 \
    --ctx-train 32768 --qtype MXFP4 --untied --sliding-window 128
# BitNet-rs on `bitnet`-architecture files (what bitnet.cpp's converter writes; BitNet-rs
# reads no `bitnet.*` key), held out: the bitnet_b1_58-large shape, and a GQA shape with a
# vocabulary above 32768 and a trained context of 4096.
synth ho-bitnet-arch-large-1536 --arch bitnet --layers 24 --hidden 1536 --heads 16 \
    --kv-heads 16 --ffn 4096 --vocab 32002 --ctx-train 2048 --qtype I2_S --tied
synth ho-bitnet-arch-16x2048 --arch bitnet --layers 16 --hidden 2048 --heads 16 --kv-heads 4 \
    --ffn 5632 --vocab 48000 --ctx-train 4096 --qtype I2_S --tied
ls -la "$DIR" >&2
