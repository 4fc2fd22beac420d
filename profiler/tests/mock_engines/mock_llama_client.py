#!/usr/bin/env python3
"""A stand-in for llama-completion run with --rpc, for testing `profiler exec --hosts`:
connects to every endpoint of --rpc (failing when one does not listen), holds
MOCK_CLIENT_MIB MiB, prints a buffer line per worker as llama.cpp does, and exits 0."""
import os, socket, sys

argv = sys.argv[1:]
endpoints = argv[argv.index("--rpc") + 1].split(",")
held = bytearray(int(os.environ.get("MOCK_CLIENT_MIB", "32")) << 20)
for i in range(0, len(held), 4096):
    held[i] = 1
for i, e in enumerate(endpoints):
    host, port = e.rsplit(":", 1)
    socket.create_connection((host, int(port)), timeout=5).close()
    print(f"load_tensors: RPC0[{e}] model buffer size =    10.00 MiB", file=sys.stderr)
print("llama_perf_context_print: prompt eval time = 1.00 ms / 16 tokens", file=sys.stderr)
sys.exit(0)
