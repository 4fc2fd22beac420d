#!/usr/bin/env bash
# Measures llama.cpp on the general-case models of general-models.sh: mixture-of-experts
# and dense 7-8B shapes (the AVX2 build the other records use), the same models on a
# native build (its ISA's CPU_REPACK and AMX buffers) and on an older release. Models named
# `ho-*` go to calibration/holdout/ (not fitted); the rest to calibration/data/. Every run
# is capped at 10 GiB of RSS (`--max-rss`). Resumable (`--resume`). About 45 minutes on
# 2 cores.
#
# Usage: scripts/engines/sweep-general.sh [PART...]   PART: fit, holdout, gpt-oss, native,
#   versions, newer, paired, bitnet-cpp-moe, bitnet-rs (default: fit holdout native versions)
# Env:  DIR (default ~/.cache/memcal/models/synth), PROFILER, LLAMA_BIN (AVX2 build),
#       NATIVE_BIN (LLAMA_CPP_ISA=native build), OLD_BIN (an older release's build),
#       NEW_BIN (a newer release's build), REAL (the real models of fetch-models.sh),
#       THREADS (default 2)
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE=${MEMCAL_ENGINE_CACHE:-$HOME/.cache/memcal/engines}
DIR=${DIR:-${MEMCAL_MODEL_CACHE:-$HOME/.cache/memcal/models}/synth}
PROFILER=${PROFILER:-target/release/profiler}
LLAMA_BIN=${LLAMA_BIN:-$CACHE/llama.cpp-11434/bin/llama-completion}
NATIVE_BIN=${NATIVE_BIN:-$CACHE/llama.cpp-11434-native/bin/llama-completion}
OLD_BIN=${OLD_BIN:-$CACHE/llama.cpp-10001/bin/llama-completion}
NEW_BIN=${NEW_BIN:-$CACHE/llama.cpp-11549/bin/llama-completion}
REAL=${REAL:-${MEMCAL_MODEL_CACHE:-$HOME/.cache/memcal/models}}
THREADS=${THREADS:-2}
PARTS=${*:-fit holdout native versions}
ok=0; failed=0
# run BIN OUT MODEL CTX BATCH UBATCH KV FA MMAP REPACK PROMPT DECODE
run() {
    local bin=$1 out=$2 m=$DIR/$3.gguf
    shift 3
    [ -x "$bin" ] || { echo "skip: no engine at $bin" >&2; return 0; }
    [ -f "$m" ] || { echo "skip: $m missing (scripts/engines/general-models.sh)" >&2; return 0; }
    mkdir -p "$(dirname "$out")"
    if "$PROFILER" exec --backend llama.cpp --engine "$bin" --threads "$THREADS" --model "$m" \
        --ctx "$1" --batch "$2" --ubatch "$3" --kv-dtype "$4" --flash-attn "$5" --mmap "$6" \
        --repack "$7" --prompt "$8" --decode "$9" --max-rss 10G --timeout 900 \
        --append "$out" --resume; then
        ok=$((ok + 1))
    else
        failed=$((failed + 1))
    fi
}
DATA=calibration/data/llama.cpp.cpu.jsonl
HOLD=calibration/holdout/llama.cpp.cpu.jsonl
moe_grid() {
    local b=$1 o=$2 m=$3
    run "$b" "$o" "$m" 4096 1 512 f16 auto on on 64 4
    run "$b" "$o" "$m" 2048 1 512 f16 auto on off 64 4
    run "$b" "$o" "$m" 4096 1 512 f16 auto off on 64 4
    run "$b" "$o" "$m" 8192 1 256 q8_0 on on on 200 4
    run "$b" "$o" "$m" 3000 3 384 f16 off on on 100 4
    run "$b" "$o" "$m" 1500 1 1000 f16 auto off off 700 2
    run "$b" "$o" "$m" 4096 1 128 f16 off on on 300 4
    run "$b" "$o" "$m" 6000 2 700 q4_0 on on on 64 4
    run "$b" "$o" "$m" 4096 1 2048 f16 on on on 1024 2
    run "$b" "$o" "$m" 12345 1 512 f16 auto on on 64 4
}
for part in $PARTS; do
    case $part in
    fit)
        for m in moe-qwen3-12x1024-e32-q4k moe-mixtral-8x2048-e8-q4_0 moe-qwen3-8x1536-e48-q8_0 \
            moe-qwen3-16x2048-e64-q4_0; do
            moe_grid "$LLAMA_BIN" "$DATA" "$m"
        done
        m=dense-mistral7b-q5k
        run "$LLAMA_BIN" "$DATA" $m 4096 1 512 f16 auto on on 32 2
        run "$LLAMA_BIN" "$DATA" $m 8192 1 256 q8_0 on off on 64 2
        run "$LLAMA_BIN" "$DATA" $m 2000 3 333 f16 off on on 48 2
        run "$LLAMA_BIN" "$DATA" $m 4096 1 512 f16 auto off off 200 2
        run "$LLAMA_BIN" "$DATA" $m 16384 1 1024 f16 on on on 32 2
        run "$LLAMA_BIN" "$DATA" $m 3000 1 700 f16 off on off 100 2
        # Q4_0 7B: mapped and repacked is 8.3 GB, so most points drop one of the two.
        m=dense-qwen2-7b-q4_0
        run "$LLAMA_BIN" "$DATA" $m 2048 1 512 f16 auto on on 32 2
        run "$LLAMA_BIN" "$DATA" $m 8192 1 256 q8_0 on off on 64 2
        run "$LLAMA_BIN" "$DATA" $m 2000 3 333 f16 off on off 48 2
        run "$LLAMA_BIN" "$DATA" $m 4096 1 512 f16 auto off on 200 2
        run "$LLAMA_BIN" "$DATA" $m 16384 1 1024 f16 on on off 32 2
        run "$LLAMA_BIN" "$DATA" $m 3000 1 700 f16 off off on 100 2
        ;;
    holdout)
        for m in ho-moe-mixtral-6x1536-e16-q4k ho-moe-qwen3-10x1280-e40-iq4nl; do
            run "$LLAMA_BIN" "$HOLD" "$m" 5555 1 333 f16 auto on on 150 3
            run "$LLAMA_BIN" "$HOLD" "$m" 2500 3 640 q8_0 on off on 90 3
            run "$LLAMA_BIN" "$HOLD" "$m" 9000 1 1500 f16 off on off 700 2
            run "$LLAMA_BIN" "$HOLD" "$m" 3333 2 200 q4_1 on on on 60 5
        done
        m=ho-dense-llama3-8b-q4k
        run "$LLAMA_BIN" "$HOLD" $m 5555 1 333 f16 auto on off 150 3
        run "$LLAMA_BIN" "$HOLD" $m 2500 3 640 q8_0 on off on 90 2
        run "$LLAMA_BIN" "$HOLD" $m 9000 1 1500 f16 off off on 700 2
        m=ho-dense-gemma2-28x3072-q6k
        run "$LLAMA_BIN" "$HOLD" $m 5555 1 333 f16 auto on on 150 3
        run "$LLAMA_BIN" "$HOLD" $m 2500 3 640 q8_0 on off on 90 2
        run "$LLAMA_BIN" "$HOLD" $m 9000 1 1500 f16 off on on 700 2
        ;;
    gpt-oss)
        # gpt-oss (held out): sliding and global caches, MXFP4 experts repacked on AVX2.
        for m in ho-gptoss-8x1024-e16-mxfp4 ho-gptoss-4x2880-e32-mxfp4; do
            run "$LLAMA_BIN" "$HOLD" "$m" 5555 1 333 f16 auto on on 150 3
            run "$LLAMA_BIN" "$HOLD" "$m" 2500 3 640 q8_0 on off on 90 3
            run "$LLAMA_BIN" "$HOLD" "$m" 9000 1 1500 f16 off on off 700 2
            run "$LLAMA_BIN" "$HOLD" "$m" 3333 2 200 q4_1 on on on 60 5
            run "$LLAMA_BIN" "$HOLD" "$m" 20000 1 512 f16 on off on 300 3
        done
        ;;
    native)
        # The native build's extra buffers: AMX takes 2-D Q4_0/Q8_0/Q4_K/Q5_K/Q6_K/F16
        # weights first, CPU_REPACK the rest of its types (merged experts included).
        for m in moe-qwen3-12x1024-e32-q4k moe-qwen3-8x1536-e48-q8_0 moe-mixtral-8x2048-e8-q4_0 \
            dense-mistral7b-q5k; do
            run "$NATIVE_BIN" "$DATA" "$m" 4096 1 512 f16 auto on on 64 4
            run "$NATIVE_BIN" "$DATA" "$m" 3000 2 384 f16 off off on 100 4
        done
        ;;
    newer | paired)
        # newer: a newer release than any the model was shaped on (NEW_BIN: b11549 from
        # xllamacpp's sdist, see build-llama-cpp.sh), held out: the estimate plans it with
        # the newest measured build's rules and tables. paired: the same runs on the
        # reference build (LLAMA_BIN), so each newer run has a twin (tests/engine_builds.rs).
        # Real models and MoE shapes, off-grid contexts, quantized KV caches.
        bin=$NEW_BIN
        [ "$part" = paired ] && bin=$LLAMA_BIN
        for m in smollm2-135m-instruct-q4_1 gemma3-270m-q4_k_m qwen2.5-coder-0.5b-instruct-q4_k_m \
            qwen2.5-coder-1.5b-instruct-q4_k_m moe-qwen3-12x1024-e32-q4k ho-gptoss-8x1024-e16-mxfp4; do
            d=$DIR
            [ -f "$REAL/$m.gguf" ] && d=$REAL
            DIR=$d run "$bin" "$HOLD" "$m" 4096 1 512 f16 auto on on 64 4
            DIR=$d run "$bin" "$HOLD" "$m" 3000 2 384 f16 off off on 100 4
            DIR=$d run "$bin" "$HOLD" "$m" 8192 1 256 q8_0 on on off 200 4
            DIR=$d run "$bin" "$HOLD" "$m" 5555 1 333 q4_0 on on on 150 3
        done
        ;;
    versions)
        for m in moe-qwen3-12x1024-e32-q4k moe-mixtral-8x2048-e8-q4_0 dense-mistral7b-q5k; do
            run "$OLD_BIN" "$DATA" "$m" 4096 1 512 f16 auto on on 64 4
            run "$OLD_BIN" "$DATA" "$m" 3000 2 384 f16 off off on 100 4
            run "$OLD_BIN" "$DATA" "$m" 8192 1 256 q8_0 on on off 200 4
        done
        ;;
    bitnet-cpp-moe)
        # bitnet.cpp's llama.cpp fork (b3947) on Mixtral-style MoE files in classic types
        # (it routes experts with mul_mat_id, repacks nothing), held out.
        bin=${BITNET_CPP_BIN:-$(ls -d "$CACHE"/bitnet.cpp-*/bin/llama-cli 2>/dev/null | head -1)}
        for m in moe-mixtral-8x2048-e8-q4_0 ho-moe-mixtral-6x1536-e16-q4k; do
            for cfg in "4096 1 512 f16 auto on 64 4" "3000 2 384 f16 off off 100 4" \
                "5555 1 333 q8_0 on on 150 3"; do
                set -- $cfg
                if [ -x "$bin" ] && [ -f "$DIR/$m.gguf" ] && "$PROFILER" exec --backend bitnet.cpp \
                    --engine "$bin" --threads "$THREADS" --model "$DIR/$m.gguf" --ctx "$1" \
                    --batch "$2" --ubatch "$3" --kv-dtype "$4" --flash-attn "$5" --mmap "$6" \
                    --prompt "$7" --decode "$8" --max-rss 10G --timeout 900 \
                    --append calibration/holdout/bitnet.cpp.cpu.jsonl --resume; then
                    ok=$((ok + 1))
                else
                    failed=$((failed + 1))
                fi
            done
        done
        ;;
    bitnet-rs)
        # BitNet-rs on `bitnet`-architecture files (held out).
        bin=${BITNET_RS_BIN:-$(ls -d "$CACHE"/bitnet-rs-*/bin/bitnet 2>/dev/null | head -1)}
        for spec in ho-bitnet-arch-large-1536:2048 ho-bitnet-arch-16x2048:4096; do
            m=$DIR/${spec%%:*}.gguf
            for pd in "40 4" "12 24"; do
                set -- $pd
                if [ -x "$bin" ] && [ -f "$m" ] && "$PROFILER" exec --backend bitnet-rs \
                    --engine "$bin" --threads "$THREADS" --model "$m" --ctx "${spec##*:}" \
                    --prompt "$1" --decode "$2" --max-rss 10G --timeout 1200 \
                    --append calibration/holdout/bitnet-rs.cpu.jsonl --resume; then
                    ok=$((ok + 1))
                else
                    failed=$((failed + 1))
                fi
            done
        done
        ;;
    *) echo "unknown part $part (fit, holdout, gpt-oss, native, versions, newer, paired, bitnet-cpp-moe, bitnet-rs)" >&2; exit 2 ;;
    esac
done
echo "general sweep: $ok ok, $failed failed or refused" >&2
