"""Model references from Python: ``memcal.estimate("hf://...")`` against the local test
server (``memcal-testserver``: the committed tiny llama GGUF in Hugging Face-like and
Ollama-registry-like layouts) answers what the ``predictor`` command answers for the same
model on disk."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

import memcal
from memcal.errors import ModelReadError
from conftest import TINY_LLAMA, _binary


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The test server's base URL, with the endpoints and an empty cache in the
    environment (which the native module and the ``predictor`` command both read)."""
    binary = _binary("memcal-testserver", "MEMCAL_TESTSERVER")
    proc = subprocess.Popen([str(binary)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        d = tmp_path_factory.mktemp("remote")
        env = {
            "HF_ENDPOINT": url,
            "MEMCAL_OLLAMA_REGISTRY": url,
            "MEMCAL_CACHE_DIR": str(d / "cache"),
            "HF_HUB_CACHE": str(d / "no-hf-cache"),
            "OLLAMA_MODELS": str(d / "no-ollama"),
        }
        with pytest.MonkeyPatch.context() as mp:
            for k, v in env.items():
                mp.setenv(k, v)
            for k in ("HF_TOKEN", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
                mp.delenv(k, raising=False)
            yield url
    finally:
        proc.kill()
        proc.wait()


def test_estimate_of_an_hf_reference_is_the_local_files(
    server: str, predictor, tmp_path: Path
) -> None:
    local = tmp_path / "tiny_llama-Q8_0.gguf"
    shutil.copyfile(TINY_LLAMA, local)
    e = memcal.estimate("hf://test/tiny-gguf:Q8_0", n_ctx=256)
    assert e.to_dict() == predictor.json(["estimate", str(local), "--ctx", "256"])
    assert e.model.name == "tiny_llama-Q8_0"
    # A second query is answered from the header cache; the result is the same.
    assert memcal.estimate("hf://test/tiny-gguf:Q8_0", n_ctx=256).to_dict() == e.to_dict()


def test_ollama_params_and_remote_errors(server: str) -> None:
    e = memcal.estimate("ollama://me/tiny-ctx:v1")
    assert e.config.ctx == 128
    assert any("num_ctx" in n for n in e.notes)
    with pytest.raises(ModelReadError) as err:
        memcal.estimate(server + "/files/missing.gguf")
    assert "404" in str(err.value) and "missing.gguf" in str(err.value)
    assert os.environ["HF_ENDPOINT"] == server
