#!/usr/bin/env python3
"""A stand-in for llama.cpp's llama-server, for testing `profiler exec --serve` without an
engine: it takes the server's flags (reads only --port), holds MOCK_MIB MiB, answers
GET /health (503 for MOCK_LOAD_S seconds, then 200; never with MOCK_NEVER_READY=1),
POST /completion (after MOCK_REQUEST_S seconds) and GET /slots, writes its pid to
MOCK_PIDFILE, exits 0 on SIGTERM, and dies (SIGKILL to itself) after MOCK_DIE_AFTER
requests."""
import json, os, signal, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

argv = sys.argv[1:]
port = int(argv[argv.index("--port") + 1])
if os.environ.get("MOCK_PIDFILE"):
    with open(os.environ["MOCK_PIDFILE"], "w") as f:
        f.write(str(os.getpid()))
held = bytearray(int(os.environ.get("MOCK_MIB", "40")) << 20)
for i in range(0, len(held), 4096):
    held[i] = 1
started = time.time()
load_s = float(os.environ.get("MOCK_LOAD_S", "0.3"))
die_after = int(os.environ.get("MOCK_DIE_AFTER", "0"))
request_s = float(os.environ.get("MOCK_REQUEST_S", "0.2"))
lock = threading.Lock()
state = {"busy": 0, "served": 0}
print("srv    load_model: initializing, n_slots = ?", file=sys.stderr, flush=True)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            ready = time.time() - started > load_s and not os.environ.get("MOCK_NEVER_READY")
            self.reply(200 if ready else 503, {"status": "ok" if ready else "loading"})
        elif self.path == "/slots":
            with lock:
                busy = state["busy"]
            self.reply(200, [{"id": i, "is_processing": i < busy} for i in range(16)])
        else:
            self.reply(404, {})

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        req = json.loads(self.rfile.read(n) or b"{}")
        with lock:
            state["busy"] += 1
            state["served"] += 1
            served = state["served"]
        if die_after and served > die_after:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(request_s)
        with lock:
            state["busy"] -= 1
        self.reply(200, {
            "tokens_evaluated": len(req.get("prompt", "").split()),
            "tokens_predicted": req.get("n_predict", 0),
            "id_slot": 0,
        })


server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
server.serve_forever()
sys.exit(0)
