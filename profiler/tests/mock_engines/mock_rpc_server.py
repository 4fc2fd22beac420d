#!/usr/bin/env python3
"""A stand-in for llama.cpp's rpc-server, for testing `profiler exec --hosts`: listens on
127.0.0.1 at -p PORT, holds MOCK_WORKER_MIB MiB, appends its pid to MOCK_PIDFILE, and
exits on SIGTERM."""
import os, signal, socket, sys

argv = sys.argv[1:]
port = int(argv[argv.index("-p") + 1])
held = bytearray(int(os.environ.get("MOCK_WORKER_MIB", "24")) << 20)
for i in range(0, len(held), 4096):
    held[i] = 1
if os.environ.get("MOCK_PIDFILE"):
    with open(os.environ["MOCK_PIDFILE"], "a") as f:
        f.write(f"{os.getpid()}\n")
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen()
while True:
    conn, _ = s.accept()
    conn.close()
