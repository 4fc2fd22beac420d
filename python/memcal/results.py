"""Typed answers of :mod:`memcal`'s functions.

Each answer is a frozen dataclass built from the JSON the ``predictor`` command prints
with ``--json`` for the same call (the native module returns that JSON, serialized by the
command's own serde code). Field names are the JSON keys; lists become tuples.
``to_dict()`` gives the JSON content back, equal to ``json.loads`` of the command's output.
Sizes are bytes unless a name says otherwise (``*_mb``: MiB, rounded up).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Dict, Optional, Tuple, Type, TypeVar

__all__ = [
    "ModelSummary",
    "RunConfig",
    "ServeOptions",
    "SplitDevice",
    "SplitOptions",
    "Components",
    "DeviceComponents",
    "SplitDeviceComponents",
    "ComponentsByDevice",
    "Requirements",
    "Calibration",
    "EngineBuffer",
    "RuntimeMemory",
    "TensorOverride",
    "Estimate",
    "Budget",
    "PlannedEstimate",
    "PlannedDevice",
    "ServePlan",
    "Plan",
    "MachinePlan",
    "SplitPlan",
    "TypeStats",
    "Experts",
    "Hparams",
    "MlaHeads",
    "GgufDetails",
    "Inspection",
    "Preset",
    "Backend",
]

T = TypeVar("T", bound="_Answer")


class _Answer:
    """Conversion between an answer and its JSON content."""

    @classmethod
    def from_dict(cls: Type[T], data: Dict[str, Any]) -> T:
        """Builds the answer from the command's JSON content (every key, no other)."""
        return typing.cast(T, _build(cls, data, cls.__name__))

    def to_dict(self) -> Dict[str, Any]:
        """The JSON content of this answer, as the ``predictor`` command prints it."""
        return typing.cast(Dict[str, Any], _plain(self))


def _omitted(default: Any) -> Any:
    """A field the command leaves out of its JSON when it has this default value (serde's
    ``skip_serializing_if``): absent keys take it, and ``to_dict()`` leaves it out again."""
    return dataclasses.field(default=default, metadata={"omit_default": True})


def _omits(f: "dataclasses.Field[Any]") -> bool:
    return bool(f.metadata.get("omit_default"))


def _build(tp: Any, value: Any, where: str) -> Any:
    """`value` (decoded JSON) as type `tp`: dataclasses, Optional, Tuple[X, ...], Dict."""
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if value is None else _build(args[0], value, where)
    if origin is tuple:
        (item, _ellipsis) = typing.get_args(tp)
        return tuple(_build(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        (_key, item) = typing.get_args(tp)
        return {k: _build(item, v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        fields = dataclasses.fields(tp)
        names = [f.name for f in fields]
        required = {f.name for f in fields if not _omits(f)}
        if not isinstance(value, dict) or not required <= set(value) <= set(names):
            got = sorted(value) if isinstance(value, dict) else type(value).__name__
            raise TypeError(f"{where}: expected the keys {names}, got {got}")
        return tp(**{n: _build(hints[n], value[n], f"{where}.{n}") for n in names if n in value})
    return value


def _plain(value: Any) -> Any:
    """The JSON content of an answer (dataclasses to dicts, tuples to lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not (_omits(f) and getattr(value, f.name) == f.default)
        }
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value




@dataclasses.dataclass(frozen=True)
class ModelSummary(_Answer):
    """The model an answer is about."""

    name: str
    format: str
    """``gguf`` or ``safetensors``."""
    architecture: str
    dominant_type: str
    """The storage type holding the most bytes (``Q4_K``, ``I2_S``, ``BF16``, ...)."""
    n_params: int
    tensor_data_bytes: int
    n_layers: int


@dataclasses.dataclass(frozen=True)
class RunConfig(_Answer):
    """The configuration predicted for (``ctx`` per sequence, ``batch`` sequences)."""

    device: str
    batch: int
    ctx: int
    ubatch: int
    kv_dtype: str
    gpu_layers: Optional[int]
    margin_pct: float
    flash_attn: str
    mmap: bool
    repack: bool
    prompt: Optional[int]
    """Prompt tokens per sequence; None: a prompt that fills the context."""
    decode: int
    serve: Optional["ServeOptions"] = _omitted(None)
    """Served by llama-server (None: a command-line run); ``batch`` is then the slots."""
    split: Optional["SplitOptions"] = _omitted(None)
    """A split over RPC workers or local GPUs (None: one machine)."""
    isa: Optional[str] = _omitted(None)
    """The CPU instruction sets planned for (None: the measured build's, avx2)."""
    engine_build: Optional[int] = _omitted(None)
    """The llama.cpp build planned for (None: the newest measured)."""
    tensor_overrides: Tuple["TensorOverride", ...] = _omitted(())
    """Tensors placed against ``gpu_layers`` (``-ot``, ``--cpu-moe``, ``--n-cpu-moe``)."""
    kv_offload: bool = _omitted(True)
    """False: the KV cache stays in host memory (``-nkvo``)."""
    blas: bool = _omitted(False)
    """True: the llama.cpp build has the BLAS backend (``--blas``)."""
    no_host: bool = _omitted(False)
    """True: host weights skip the GPU's pinned host buffer (``--no-host``)."""
    no_op_offload: bool = _omitted(False)
    """True: host weights' operations stay on the CPU (``--no-op-offload``)."""


@dataclasses.dataclass(frozen=True)
class TensorOverride(_Answer):
    """One tensor placement: a part of one block (every block when ``layer`` is None) in
    host memory or on a GPU."""

    part: str
    """``block``, ``attention``, ``ffn``, ``ffn_dense``, ``experts`` or ``output`` (the output
    layer, ``layer`` None)."""
    target: Any
    """``"host"``, or ``{"gpu": N}``."""
    layer: Optional[int] = _omitted(None)


@dataclasses.dataclass(frozen=True)
class ServeOptions(_Answer):
    """How llama-server is run (``serve=True``)."""

    kv_unified: bool
    cache_ram_mib: int
    """``--cache-ram``: MiB the prompt cache may fill (0: off, -1: no limit)."""
    ctx_checkpoints: int
    n_batch: int
    """The server's logical batch (``-b``)."""
    requests_per_slot: Optional[int] = _omitted(None)
    """Requests each slot serves; None: a long-running server, its prompt cache full."""


@dataclasses.dataclass(frozen=True)
class SplitDevice(_Answer):
    """One device of a split."""

    name: str
    kind: str
    """``rpc`` (an ``rpc-server`` on a machine of its own) or ``cuda`` (a local GPU)."""


@dataclasses.dataclass(frozen=True)
class SplitOptions(_Answer):
    """A model split over devices, in llama.cpp's device order."""

    devices: Tuple[SplitDevice, ...]
    tensor_split: Tuple[float, ...]
    """``--tensor-split`` proportions, one per device."""
    mode: str
    """``-sm``: ``layer`` or ``row``."""


@dataclasses.dataclass(frozen=True)
class Components(_Answer):
    """Bytes one device needs, by what they are for."""

    weights: int
    kv_cache: int
    activations: int
    overhead: int
    headroom: int
    """Safety headroom on top (margin plus the calibration's held-out error)."""


@dataclasses.dataclass(frozen=True)
class DeviceComponents(Components):
    """A device's components with their sums."""

    used: int
    """The predicted peak: everything but the headroom."""
    total: int
    """What to plan for: the predicted peak plus the headroom."""


@dataclasses.dataclass(frozen=True)
class SplitDeviceComponents(DeviceComponents):
    """What one device of a split needs: an RPC worker's process, or a local GPU."""

    name: str
    kind: str
    first_layer: int
    """The first block it holds (meaningless when it holds none)."""
    n_layers: int
    output_layer: bool
    calibration: Optional["Calibration"]
    buffers: Tuple["EngineBuffer", ...] = _omitted(())
    """The buffers the engine prints for it, under its names."""
    runtime: Tuple["RuntimeMemory", ...] = _omitted(())
    """What it holds beyond them (a GPU's context, workspaces, memory pool)."""


@dataclasses.dataclass(frozen=True)
class ComponentsByDevice(_Answer):
    """Components in host RAM (on a split: the client's) and on the GPU (None on the
    CPU), and each device of a split."""

    host: DeviceComponents
    gpu: Optional[DeviceComponents]
    devices: Tuple[SplitDeviceComponents, ...] = _omitted(())


@dataclasses.dataclass(frozen=True)
class Requirements(_Answer):
    """The estimate in BitNet-rs's ``MemoryRequirements`` shape (MiB, rounded up)."""

    total_mb: int
    gpu_memory_mb: Optional[int]
    cpu_memory_mb: int
    kv_cache_mb: int
    activation_mb: int
    headroom_mb: int


@dataclasses.dataclass(frozen=True)
class Calibration(_Answer):
    """The calibration table applied."""

    name: str
    exact_match: bool
    expected_p95_error: float
    """Held-out p95 absolute relative error of the table, as a fraction."""
    note: Optional[str]


@dataclasses.dataclass(frozen=True)
class EngineBuffer(_Answer):
    """A buffer the engine will report in its log, predicted."""

    component: str
    buffer: str
    bytes: int


@dataclasses.dataclass(frozen=True)
class Estimate(_Answer):
    """What :func:`memcal.estimate` (``predictor estimate --json``) answers."""

    backend: str
    model: ModelSummary
    config: RunConfig
    gpu_layers: int
    """Layers on the GPU as the engine counts them (llama.cpp: blocks and the output
    layer, so all of them is ``model.n_layers + 1``)."""
    components: ComponentsByDevice
    host_bytes: int
    """Host RAM to plan for (headroom included)."""
    gpu_bytes: Optional[int]
    """GPU memory to plan for (headroom included); None on the CPU."""
    requirements: Requirements
    calibration: Optional[Calibration]
    notes: Tuple[str, ...]
    buffers: Tuple[EngineBuffer, ...] = _omitted(())
    """The engine's own buffers (llama.cpp, bitnet.cpp); absent from the JSON when empty."""


@dataclasses.dataclass(frozen=True)
class Budget(_Answer):
    """The memory a plan was made against."""

    host_bytes: int
    gpu_bytes: Optional[int]


@dataclasses.dataclass(frozen=True)
class PlannedEstimate(_Answer):
    """The estimate of the configuration asked for, inside a :class:`Plan`."""

    backend: str
    config: RunConfig
    gpu_layers: int
    host: Components
    gpu: Optional[Components]
    calibration: Optional[Calibration]
    notes: Tuple[str, ...]
    buffers: Tuple[EngineBuffer, ...]
    devices: Tuple["PlannedDevice", ...] = _omitted(())
    """Each device of a split."""


@dataclasses.dataclass(frozen=True)
class PlannedDevice(_Answer):
    """One device of a split inside a plan's estimate."""

    name: str
    kind: str
    first_layer: int
    n_layers: int
    output_layer: bool
    memory: Components
    calibration: Optional[Calibration]
    buffers: Tuple[EngineBuffer, ...]
    """The buffers the engine will report for it, as it names them."""
    runtime: Tuple["RuntimeMemory", ...] = _omitted(())
    """What a GPU holds beyond the engine's buffers (see :class:`RuntimeMemory`)."""


@dataclasses.dataclass(frozen=True)
class RuntimeMemory(_Answer):
    """Memory a device holds beyond the engine's buffers (the CUDA context, cuBLAS
    workspaces, ggml-cuda's pool), modelled from the engine's source, with how far it may
    be off either way."""

    name: str
    bytes: int
    uncertainty_bytes: int
    basis: str


@dataclasses.dataclass(frozen=True)
class ServePlan(_Answer):
    """The prompt cache a served plan leaves room for."""

    requested_cache_ram_mib: int
    max_cache_ram_mib: Optional[int]
    """The largest ``cache_ram`` with which a long-running server at the slots and context
    asked for fits (None: not even with the cache off)."""


@dataclasses.dataclass(frozen=True)
class Plan(_Answer):
    """What :func:`memcal.plan` (``predictor plan --json``) answers."""

    backend: str
    model: ModelSummary
    budget: Budget
    requested_fits: bool
    gpu_layers: int
    n_layers: int
    requested: PlannedEstimate
    max_ctx: Optional[int]
    """The largest context per sequence that fits at the batch asked for (None: none)."""
    max_batch: Optional[int]
    """The largest batch that fits at the context asked for (None: none)."""
    ctx_limit: int
    headroom_bytes: int
    notes: Tuple[str, ...]
    serve: Optional[ServePlan] = _omitted(None)
    """With ``serve=True``: the largest prompt cache that fits."""


@dataclasses.dataclass(frozen=True)
class MachinePlan(_Answer):
    """One machine of a :class:`SplitPlan`."""

    name: str
    role: str
    """``client`` (runs the model), ``rpc-server`` or ``gpu``."""
    budget_bytes: int
    needs_bytes: int
    """What it needs with the split found, headroom included."""
    blocks: int
    output_layer: bool
    fits: bool


@dataclasses.dataclass(frozen=True)
class SplitPlan(_Answer):
    """What :func:`memcal.plan` answers with ``hosts`` (``predictor plan --hosts ...
    --json``), or for local GPUs with ``tensor_split``."""

    backend: str
    model: ModelSummary
    requested_fits: bool
    gpu_layers: int
    """``-ngl``: the layers the workers take (blocks, and the output layer as one)."""
    tensor_split: Tuple[int, ...]
    """``--tensor-split``: the layers each worker takes, in ``hosts`` order."""
    machines: Tuple[MachinePlan, ...]
    requested: PlannedEstimate
    max_ctx: Optional[int]
    max_batch: Optional[int]
    ctx_limit: int
    flags: str
    """The llama.cpp flags that give this placement."""
    n_cpu_moe: Optional[int] = _omitted(None)
    """``--n-cpu-moe``: blocks whose routed experts stay in host memory (local GPUs)."""
    serve: Optional[ServePlan] = _omitted(None)
    notes: Tuple[str, ...] = _omitted(())
    """Where budgets read from this machine came from."""


@dataclasses.dataclass(frozen=True)
class TypeStats(_Answer):
    """Tensors, elements and bytes stored in one type."""

    tensors: int
    elements: int
    bytes: int


@dataclasses.dataclass(frozen=True)
class Experts(_Answer):
    """A mixture-of-experts shape."""

    total: int
    active: int


@dataclasses.dataclass(frozen=True)
class Hparams(_Answer):
    """A model's shape."""

    n_layers: int
    hidden: int
    n_heads: int
    n_kv_heads: Tuple[int, ...]
    head_dim_k: int
    head_dim_v: int
    ffn: int
    vocab: int
    ctx_train: int
    tied_embeddings: bool
    sliding_window: Optional[int]
    sliding_layers: Tuple[bool, ...]
    experts: Optional[Experts]
    mla: Optional["MlaHeads"] = _omitted(None)
    """Multi-head latent attention's trained head widths (None for other attention)."""


@dataclasses.dataclass(frozen=True)
class MlaHeads(_Answer):
    """The trained key and value widths of a latent-attention head (DeepSeek-V2/V3)."""

    k: int
    v: int


@dataclasses.dataclass(frozen=True)
class GgufDetails(_Answer):
    """GGUF header facts."""

    version: int
    alignment: int
    data_offset: int
    n_kv: int


@dataclasses.dataclass(frozen=True)
class Inspection(_Answer):
    """What :func:`memcal.inspect` (``predictor inspect --json``) answers."""

    path: str
    format: str
    architecture: str
    n_tensors: int
    n_params: int
    tensor_data_bytes: int
    file_bytes: int
    dominant_type: str
    by_type: Dict[str, TypeStats]
    by_role: Dict[str, int]
    largest_tensor_bytes: int
    hparams: Hparams
    gguf: Optional[GgufDetails]
    notes: Tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Preset(_Answer):
    """A built-in model shape (``preset=NAME`` or ``NAME:TYPE``)."""

    name: str
    arch: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    ctx: int
    tied: bool
    default_type: str
    qkv_bias: bool
    source: str
    experts: int = _omitted(0)
    """Routed experts per block (0: a dense model)."""
    experts_used: int = _omitted(0)
    expert_ffn: int = _omitted(0)


@dataclasses.dataclass(frozen=True)
class Backend(_Answer):
    """An engine memcal predicts (``backend=NAME``)."""

    name: str
    aliases: Tuple[str, ...]
    models: str
    tables: Tuple[str, ...]
    measured_on: Tuple[str, ...]
    cuda_calibrated: bool
    rule_builds: Tuple[int, ...]
