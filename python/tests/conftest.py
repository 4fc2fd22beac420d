"""Fixtures of the Python package's tests: the models, and the ``predictor`` command whose
``--json`` answers the package must reproduce.

The tests run against the *installed* package (the wheel, in a fresh venv: see .ci/run),
never the source tree. The ``predictor`` binary is ``$MEMCAL_PREDICTOR``, else
``<target>/release/predictor`` (``$CARGO_TARGET_DIR`` or the workspace's ``target/``),
built with ``cargo build --release -p predictor`` when missing; ``profiler`` likewise.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import pytest

REPO = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
if not TARGET.is_absolute():
    TARGET = REPO / TARGET

# A real published model (SmolLM2-135M-Instruct, Q4_1), fetched by scripts/fetch-real-model.sh
# (into the repository's target/, whatever CARGO_TARGET_DIR says).
SMOLLM2 = REPO / "target" / "memcal-models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
# Committed test models.
TINY_LLAMA = REPO / "profiler" / "tests" / "fixtures" / "tiny_llama.gguf"
PYTHON_GGUF = REPO / "crates" / "formats" / "tests" / "support" / "fixtures" / "python_gguf.gguf"


def _binary(name: str, env: str) -> Path:
    given = os.environ.get(env)
    if given:
        return Path(given)
    path = TARGET / "release" / name
    if not path.exists():
        subprocess.run(
            ["cargo", "build", "--release", "--locked", "-q", "-p", name], cwd=REPO, check=True
        )
    return path


@pytest.fixture(scope="session")
def predictor_bin() -> Path:
    """The ``predictor`` command."""
    return _binary("predictor", "MEMCAL_PREDICTOR")


@pytest.fixture(scope="session")
def profiler_bin() -> Path:
    """The ``profiler`` command (for ``profiler synth``)."""
    return _binary("profiler", "MEMCAL_PROFILER")


class Predictor:
    """Runs the ``predictor`` command."""

    def __init__(self, binary: Path) -> None:
        self.binary = binary

    def run(self, args: Sequence[str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.binary), *args], capture_output=True, text=True, cwd=REPO
        )

    def json(self, args: Sequence[str]) -> Any:
        """``predictor ARGS --json``, decoded; fails the test when the command fails."""
        out = self.run([*args, "--json"])
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def error(self, args: Sequence[str]) -> str:
        """The message ``predictor ARGS`` prints after ``error: `` (it must fail)."""
        out = self.run(args)
        assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
        assert out.stderr.startswith("error: "), out.stderr
        return out.stderr[len("error: "):].rstrip("\n")


@pytest.fixture(scope="session")
def predictor(predictor_bin: Path) -> Predictor:
    return Predictor(predictor_bin)


def _write_safetensors(path: Path, tensors: List[Tuple[str, str, Tuple[int, ...]]]) -> None:
    """A SafeTensors file of zeros: 8-byte header length, JSON header, data."""
    header: Dict[str, Any] = {"__metadata__": {"format": "pt"}}
    at = 0
    for name, dtype, shape in tensors:
        n = 2
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [at, at + n]}
        at += n
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        f.write(bytes(at))


@pytest.fixture(scope="session")
def hf_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Hugging Face checkpoint folder: config.json and model.safetensors (BF16, a small
    Llama shape), as a user has after downloading a model."""
    d = tmp_path_factory.mktemp("hf-llama")
    hidden, kv, ffn, vocab, layers = 128, 64, 352, 1000, 2
    tensors: List[Tuple[str, str, Tuple[int, ...]]] = [
        ("model.embed_tokens.weight", "BF16", (vocab, hidden))
    ]
    for layer in range(layers):
        p = f"model.layers.{layer}."
        tensors += [
            (p + "input_layernorm.weight", "BF16", (hidden,)),
            (p + "self_attn.q_proj.weight", "BF16", (hidden, hidden)),
            (p + "self_attn.k_proj.weight", "BF16", (kv, hidden)),
            (p + "self_attn.v_proj.weight", "BF16", (kv, hidden)),
            (p + "self_attn.o_proj.weight", "BF16", (hidden, hidden)),
            (p + "post_attention_layernorm.weight", "BF16", (hidden,)),
            (p + "mlp.gate_proj.weight", "BF16", (ffn, hidden)),
            (p + "mlp.up_proj.weight", "BF16", (ffn, hidden)),
            (p + "mlp.down_proj.weight", "BF16", (hidden, ffn)),
        ]
    tensors += [("model.norm.weight", "BF16", (hidden,)), ("lm_head.weight", "BF16", (vocab, hidden))]
    _write_safetensors(d / "model.safetensors", tensors)
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "num_hidden_layers": layers,
        "hidden_size": hidden,
        "intermediate_size": ffn,
        "vocab_size": vocab,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
    }
    (d / "config.json").write_text(json.dumps(config))
    return d


@pytest.fixture(scope="session")
def bitnet_gguf(tmp_path_factory: pytest.TempPathFactory, profiler_bin: Path) -> Path:
    """A synthetic BitNet b1.58 model (I2_S) written by ``profiler synth``."""
    out = tmp_path_factory.mktemp("bitnet") / "tiny-i2_s.gguf"
    subprocess.run(
        [str(profiler_bin), "synth", "--preset", "tiny", "--qtype", "I2_S", "-o", str(out)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """The real model; CI fetches it first (a missing file fails, it does not skip)."""
    assert SMOLLM2.exists(), f"{SMOLLM2} is missing: run scripts/fetch-real-model.sh"
    return SMOLLM2


@pytest.fixture(
    scope="session", params=["smollm2", "tiny_llama", "python_gguf", "hf_checkpoint", "bitnet_gguf"]
)
def model(request: pytest.FixtureRequest) -> Path:
    """Every test model: a real GGUF, the committed GGUF fixtures, a SafeTensors checkpoint
    folder and a BitNet I2_S file."""
    fixed = {"tiny_llama": TINY_LLAMA, "python_gguf": PYTHON_GGUF}
    if request.param in fixed:
        return fixed[request.param]
    return Path(request.getfixturevalue(request.param))
