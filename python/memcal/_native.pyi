"""Type stubs of the native module ``memcal._native`` (python/src/lib.rs).

Each function returns the JSON text the ``predictor`` command prints with ``--json``
(compact) and raises the classes of :mod:`memcal.errors`.
"""

from typing import List, Optional, TypedDict

__version__: str

class Options(TypedDict):
    """A run configuration in the command line's spelling; None keeps its default."""

    backend: Optional[str]
    table: Optional[str]
    uncalibrated: bool
    device: Optional[str]
    batch: Optional[int]
    ctx: Optional[int]
    ubatch: Optional[int]
    max_ubatch: Optional[int]
    kv_dtype: Optional[str]
    flash_attn: Optional[str]
    mmap: Optional[str]
    repack: Optional[str]
    prompt: Optional[int]
    decode: Optional[int]
    gpu_layers: Optional[int]
    margin: Optional[float]
    serve: bool
    kv_unified: Optional[str]
    cache_ram: Optional[int]
    ctx_checkpoints: Optional[int]
    server_batch: Optional[int]
    requests: Optional[int]
    hosts: Optional[str]
    tensor_split: Optional[str]
    split_mode: Optional[str]
    isa: Optional[str]
    engine_build: Optional[int]
    override_tensor: List[str]
    cpu_moe: bool
    n_cpu_moe: Optional[int]
    no_kv_offload: bool
    blas: bool
    no_host: bool
    no_op_offload: bool

def inspect(path: str) -> str: ...
def estimate(path: Optional[str], preset: Optional[str], options: Options) -> str: ...
def plan(
    path: Optional[str],
    preset: Optional[str],
    options: Options,
    budget: Optional[str],
    gpu_budget: Optional[str],
    gpus: List[str],
) -> str: ...
def presets() -> str: ...
def backends() -> str: ...
def trained_context(path: Optional[str], preset: Optional[str]) -> int: ...
def ggml_type_name(id: int) -> Optional[str]: ...
def main(argv: List[str]) -> int: ...
