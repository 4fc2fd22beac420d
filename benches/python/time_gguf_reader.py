"""Times the Python `gguf` package's GGUFReader on a file, for comparison with memcal's
`predictor inspect` (criterion bench `predictor_latency`).

    pip install gguf
    cargo run --release -p memcal-benches --example write_fixture -- /tmp llama-3.1-8b:Q4_K
    python3 benches/python/time_gguf_reader.py /tmp/llama-3.1-8b_Q4_K.gguf
"""
import statistics
import sys
import time

import gguf


def main(path: str, runs: int = 10) -> None:
    gguf.GGUFReader(path)  # warm the page cache
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = gguf.GGUFReader(path)
        n = sum(int(t.n_bytes) for t in r.tensors)
        times.append(time.perf_counter() - t0)
    print(f"gguf {getattr(gguf, '__version__', '?')} GGUFReader: median {statistics.median(times) * 1e3:.1f} ms "
          f"over {runs} runs ({len(r.tensors)} tensors, {n} tensor bytes)")


if __name__ == "__main__":
    main(sys.argv[1])
