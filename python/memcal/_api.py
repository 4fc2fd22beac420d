"""memcal's functions: the ``predictor`` command's subcommands, answering typed objects."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from . import _native, _options
from ._options import OnOff, PathLike
from .errors import ConfigError
from .results import Backend, Estimate, Inspection, Plan, Preset, SplitPlan

__all__ = ["inspect", "estimate", "plan", "presets", "backends"]

Size = Union[int, str]
Hosts = Union[str, Sequence[str], Mapping[str, Optional[Size]]]


def inspect(path: PathLike) -> Inspection:
    """What a model file holds: format, architecture, tensors and bytes by type, shape.

    ``path`` is a ``.gguf`` file, a ``.safetensors`` file (``config.json`` beside it), a
    ``model.safetensors.index.json``, or a folder holding one of those (a Hugging Face
    checkpoint folder). The same as ``predictor inspect PATH --json``.

    Raises :class:`~memcal.errors.ModelReadError` (an ``OSError``) when the file cannot be
    read and :class:`~memcal.errors.ModelFormatError` (a ``ValueError``) when it is not a
    valid model file.
    """
    file = _options.path("path", path)
    if file is None:
        raise ConfigError("give a model path")
    return Inspection.from_dict(json.loads(_native.inspect(file)))


def _call(arguments: Dict[str, Any]) -> Dict[str, Any]:
    """The native call's model and options from a function's own arguments (its
    ``locals()`` on entry: every keyword of :func:`estimate`, and a plan's budgets)."""
    file, preset = _options.model(arguments["path"], arguments["model_path"], arguments["preset"])
    options = _options.options(file, preset, arguments)
    return {"path": file, "preset": preset, "options": options}


def estimate(
    path: Optional[PathLike] = None,
    *,
    preset: Optional[str] = None,
    backend: Optional[str] = None,
    device: Optional[str] = None,
    ctx: Optional[int] = None,
    batch: Optional[int] = None,
    ubatch: Optional[int] = None,
    kv_dtype: Optional[str] = None,
    flash_attn: Optional[OnOff] = None,
    mmap: Optional[OnOff] = None,
    repack: Optional[OnOff] = None,
    prompt: Optional[int] = None,
    decode: Optional[int] = None,
    gpu_layers: Optional[int] = None,
    margin: Optional[float] = None,
    table: Optional[PathLike] = None,
    uncalibrated: bool = False,
    serve: bool = False,
    slots: Optional[int] = None,
    kv_unified: Optional[OnOff] = None,
    cache_ram: Optional[int] = None,
    ctx_checkpoints: Optional[int] = None,
    requests: Optional[int] = None,
    hosts: Optional[Hosts] = None,
    tensor_split: Optional[Union[Sequence[float], str]] = None,
    split_mode: Optional[Union[int, str]] = None,
    isa: Optional[str] = None,
    engine_build: Optional[int] = None,
    override_tensor: Optional[Union[Sequence[str], str]] = None,
    cpu_moe: bool = False,
    n_cpu_moe: Optional[int] = None,
    offload_kqv: Optional[bool] = None,
    blas: bool = False,
    no_host: bool = False,
    no_op_offload: bool = False,
    model_path: Optional[PathLike] = None,
    n_ctx: Optional[int] = None,
    n_batch: Optional[int] = None,
    n_ubatch: Optional[int] = None,
    n_gpu_layers: Optional[int] = None,
    use_mmap: Optional[bool] = None,
    type_k: Optional[Union[int, str]] = None,
    type_v: Optional[Union[int, str]] = None,
) -> Estimate:
    """The memory a run will take, per component, for the engine that runs it.

    The same as ``predictor estimate PATH [flags] --json``; every option left out keeps
    the command's default.

    Args:
        path: the model (see :func:`inspect`), or give ``preset`` instead.
        preset: a built-in model shape, ``NAME`` or ``NAME:TYPE`` (see :func:`presets`).
        backend: the engine: ``llama.cpp``, ``bitnet.cpp``, ``bitnet-rs`` or ``memcal``
            (default: what most people run for the file; see :func:`backends`).
        device: ``cpu`` (default), ``gpu``, ``cuda`` or ``cuda:N``.
        ctx: context per sequence, in tokens (default: the trained context, at most 4096).
        batch: parallel sequences, each with its own context (llama.cpp's ``-np``).
        ubatch: micro-batch in tokens (llama.cpp's ``-ub``; default 512).
        kv_dtype: KV cache type: f32, f16 (default), bf16, q8_0, q4_0, q4_1, q5_0, q5_1,
            iq4_nl.
        flash_attn: ``True``/``False`` or ``"on"``, ``"off"``, ``"auto"`` (default).
        mmap: memory-map the model file (default on).
        repack: let llama.cpp repack weights for the CPU (default on).
        prompt: prompt tokens per sequence (default: a prompt that fills the context).
        decode: tokens generated per sequence after the prompt (default 0).
        gpu_layers: transformer blocks on the GPU (default: all of them on CUDA).
        margin: safety margin in percent kept as headroom (default 5; 0: ``host_bytes``
            is the calibrated peak itself).
        table: a calibration table (JSON) to use instead of the embedded ones.
        uncalibrated: the pure analytic estimate.
        serve: served by llama.cpp's ``llama-server``: ``slots`` parallel slots of
            ``ctx`` tokens each, continuous batching, its prompt cache.
        slots: the server's slots (``-np``); the same as ``batch``.
        kv_unified: with ``serve``: one KV buffer shared by the slots (``--kv-unified``).
        cache_ram: with ``serve``: MiB the prompt cache may fill (``--cache-ram``; 0: off,
            -1: no limit; default 8192).
        ctx_checkpoints: with ``serve``: checkpoints per slot for sliding-window models.
        requests: with ``serve``: requests each slot serves one after another (default:
            a long-running server whose prompt cache has filled).
        hosts: a split over machines with llama.cpp's RPC backend, the client first:
            ``"client=8G,box1=16G"``, ``["client", "box1"]`` or ``{"client": "8G",
            "box1": 16 << 30}``; the answer gives each RPC worker under
            ``components.devices``.
        tensor_split: the share of the offloaded blocks each worker (or local GPU, with
            ``device="cuda"``) takes, as llama.cpp's ``--tensor-split``.
        split_mode: ``"layer"`` (default) or ``"row"`` (local GPUs), or llama.h's id.
        isa: the CPU instruction sets of the engine build (``avx2``, ``avx512``, ``amx``,
            ``neon-i8mm``, ..., or ``native``; default avx2, the measured build's).
        engine_build: the llama.cpp build number to plan for (default: the newest
            measured).
        override_tensor: llama.cpp's ``-ot``: ``"PATTERN=BUFT"`` rules (a list, or one
            string of rules joined by ``,``), first match wins; ``BUFT`` is ``CPU`` or
            ``CUDAn``.
        cpu_moe: keep every block's routed experts in host memory (``--cpu-moe``).
        n_cpu_moe: keep the routed experts of the first N blocks in host memory
            (``--n-cpu-moe``).
        offload_kqv: ``Llama()``'s name: ``False`` keeps the KV cache in host memory
            (``-nkvo``; default ``True``).
        blas: the llama.cpp build has the BLAS backend (``GGML_BLAS=ON``: OpenBLAS, MKL,
            BLIS), which runs the large products of weights left in host memory and keeps
            a ``CPU`` compute buffer of its own (``--blas``; GPU runs only).
        no_host: llama.cpp's ``--no-host``: weights left in host memory skip the GPU's
            pinned host buffer, so the CPU's repacked layouts (``CPU_REPACK``) take those
            they can and the rest stay in a plain ``CPU`` buffer or the mapped file.
        no_op_offload: llama.cpp's ``--no-op-offload``: operations on weights left in
            host memory stay on the CPU whatever the batch (no copies on the first GPU).
        model_path, n_ctx, n_batch, n_ubatch, n_gpu_layers, use_mmap, type_k, type_v:
            llama-cpp-python's ``Llama()`` names, with its meanings: ``n_ctx`` is the
            total context over all sequences (0: the trained context), ``n_batch`` caps
            the micro-batch (and with ``serve`` is the server's ``-b``),
            ``n_gpu_layers`` (-1: all) puts layers on the GPU,
            ``type_k``/``type_v`` are ggml type ids or names and must be equal. A name
            and its alias may both be given only when they agree.

    Raises:
        ConfigError: a bad or conflicting option (a ``ValueError``).
        ModelReadError: the file cannot be read (an ``OSError``).
        ModelFormatError: the file is not a valid model file (a ``ValueError``).
    """
    args = _call(locals())
    return Estimate.from_dict(json.loads(_native.estimate(**args)))


def plan(
    path: Optional[PathLike] = None,
    *,
    budget: Optional[Size] = None,
    gpu_budget: Optional[Size] = None,
    gpus: Optional[Sequence[Size]] = None,
    preset: Optional[str] = None,
    backend: Optional[str] = None,
    device: Optional[str] = None,
    ctx: Optional[int] = None,
    batch: Optional[int] = None,
    ubatch: Optional[int] = None,
    kv_dtype: Optional[str] = None,
    flash_attn: Optional[OnOff] = None,
    mmap: Optional[OnOff] = None,
    repack: Optional[OnOff] = None,
    prompt: Optional[int] = None,
    decode: Optional[int] = None,
    gpu_layers: Optional[int] = None,
    margin: Optional[float] = None,
    table: Optional[PathLike] = None,
    uncalibrated: bool = False,
    serve: bool = False,
    slots: Optional[int] = None,
    kv_unified: Optional[OnOff] = None,
    cache_ram: Optional[int] = None,
    ctx_checkpoints: Optional[int] = None,
    requests: Optional[int] = None,
    hosts: Optional[Hosts] = None,
    tensor_split: Optional[Union[Sequence[float], str]] = None,
    split_mode: Optional[Union[int, str]] = None,
    isa: Optional[str] = None,
    engine_build: Optional[int] = None,
    override_tensor: Optional[Union[Sequence[str], str]] = None,
    cpu_moe: bool = False,
    n_cpu_moe: Optional[int] = None,
    offload_kqv: Optional[bool] = None,
    blas: bool = False,
    no_host: bool = False,
    no_op_offload: bool = False,
    model_path: Optional[PathLike] = None,
    n_ctx: Optional[int] = None,
    n_batch: Optional[int] = None,
    n_ubatch: Optional[int] = None,
    n_gpu_layers: Optional[int] = None,
    use_mmap: Optional[bool] = None,
    type_k: Optional[Union[int, str]] = None,
    type_v: Optional[Union[int, str]] = None,
) -> Union[Plan, SplitPlan]:
    """What fits a memory budget: GPU layer split, largest context and largest batch.

    The same as ``predictor plan PATH [--budget SIZE] [--gpu-budget SIZE] [flags] --json``.
    ``budget`` is host RAM and ``gpu_budget`` GPU memory, each in bytes (int) or as a size
    (``"16G"``, ``"512MiB"``); without them the budget is what this machine has free now
    (RAM through sysinfo, GPU memory through the CUDA driver). The other options are those
    of :func:`estimate`: the configuration asked for. With ``serve=True`` the answer also
    gives the largest ``cache_ram`` that fits (``serve``); "batch" is then the slots.

    With ``hosts`` (each machine with its budget: ``{"client": "8G", "box1": "16G"}``)
    the answer is a :class:`SplitPlan`: which blocks each RPC worker takes, the
    ``--tensor-split`` and ``-ngl`` flags that place them so, and what every machine
    needs (``predictor plan --hosts ... --json``). ``device="cuda"`` with
    ``tensor_split`` plans local GPUs the same way, each with ``gpu_budget``.

    For llama.cpp on GPUs (``device="cuda"``) the answer is a :class:`SplitPlan` over the
    GPUs, each with its budget: ``gpus=["24G", "24G"]`` (or ``gpu_budget`` for one GPU;
    without either, the free memory of the GPUs present). It gives ``-ngl``,
    ``--tensor-split`` and, for a mixture of experts that does not fit whole,
    ``--n-cpu-moe`` (``n_cpu_moe``) in ``flags``.

    Raises what :func:`estimate` raises, and :class:`~memcal.errors.MemcalError` when a
    GPU budget must be read and there is no CUDA driver.
    """
    args = _call(locals())
    gpu_sizes = [] if gpus is None else [_options.size("gpus", g) for g in gpus]
    answer = _native.plan(
        budget=_options.size("budget", budget),
        gpu_budget=_options.size("gpu_budget", gpu_budget),
        gpus=[g for g in gpu_sizes if g is not None],
        **args,
    )
    content = json.loads(answer)
    if "machines" in content:
        return SplitPlan.from_dict(content)
    return Plan.from_dict(content)


def presets() -> List[Preset]:
    """The built-in model shapes usable as ``preset=`` (``predictor presets --json``)."""
    return [Preset.from_dict(p) for p in json.loads(_native.presets())]


def backends() -> List[Backend]:
    """The engines memcal predicts, with their calibration tables and the engine versions
    those were measured on (``predictor backends --json``)."""
    return [Backend.from_dict(b) for b in json.loads(_native.backends())]
