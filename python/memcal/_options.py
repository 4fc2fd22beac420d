"""Keyword arguments of :func:`memcal.estimate` and :func:`memcal.plan`, with the names
llama-cpp-python's ``Llama()`` uses where they mean the same thing, turned into the
options of the ``predictor`` command line (which the native module takes).

The mapping (read from llama-cpp-python's ``Llama.__init__``):

==================  ===========================================================
``Llama()``         memcal
==================  ===========================================================
``model_path``      ``path``
``n_ctx``           the total context over all sequences (llama.cpp's ``-c``):
                    ``ctx = n_ctx / batch``; ``n_ctx=0`` is the model's trained
                    context, as in ``Llama()``
``n_batch``         the logical batch in tokens: it only caps the micro-batch,
                    ``ubatch = min(ubatch, n_batch)``, as ``Llama()`` does; it is
                    *not* memcal's ``batch`` (parallel sequences)
``n_ubatch``        ``ubatch``
``n_gpu_layers``    ``gpu_layers`` on the GPU: a non-zero value without ``device``
                    means ``device="cuda"``; ``-1`` is every layer
``flash_attn``      ``flash_attn`` (``True``/``False`` or ``"on"``/``"off"``/``"auto"``)
``use_mmap``        ``mmap``
``type_k``,         ``kv_dtype`` (a ggml type id such as ``llama_cpp.GGML_TYPE_Q8_0``,
``type_v``          or a name); memcal models one type for K and V, so both must
                    be given and equal
``tensor_split``    ``tensor_split`` (a list of proportions, as ``Llama()`` takes)
``split_mode``      ``split_mode``: ``llama_cpp.LLAMA_SPLIT_MODE_LAYER`` (1) or
                    ``..._ROW`` (2), or ``"layer"``/``"row"``
``offload_kqv``     ``offload_kqv=False`` keeps the KV cache in host memory
                    (llama.cpp's ``-nkvo``)
==================  ===========================================================

Serving (``llama-server``): ``serve=True`` with ``slots`` (the same as ``batch``,
``-np``); there ``n_batch`` is also the server's logical batch (``-b``, the command
line's ``--n-batch``).

A name and its alias may both be given only when they agree; otherwise
:class:`~memcal.errors.ConfigError` names the two that conflict.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

from . import _native
from .errors import ConfigError

PathLike = Union[str, os.PathLike[str]]
OnOff = Union[bool, str]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _uint(name: str, value: Any) -> Optional[int]:
    """A non-negative int option (None stays None)."""
    if value is None:
        return None
    if not _is_int(value):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {value}")
    return int(value)


def _on_off(name: str, value: Any) -> Optional[str]:
    """A switch: a bool, or a string the command line reads (on, off, auto, ...)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "on" if value else "off"
    raise ConfigError(f"{name} must be a bool or a string such as 'on' or 'off', got {value!r}")


def _text(name: str, value: Any) -> Optional[str]:
    if value is None or isinstance(value, str):
        return value
    raise ConfigError(f"{name} must be a string, got {value!r}")


def path(name: str, value: Any) -> Optional[str]:
    """A file path option as a string (None stays None)."""
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    raise ConfigError(f"{name} must be a path (str or os.PathLike), got {value!r}")


def _equal(a: Any, b: Any) -> bool:
    return bool(a == b)


def _one(
    name: str,
    value: Any,
    alias: str,
    alias_value: Any,
    same: Callable[[Any, Any], bool] = _equal,
) -> Any:
    """The value given under `name` or its `alias`; both only when they agree."""
    if value is None:
        return alias_value
    if alias_value is not None and not same(value, alias_value):
        raise ConfigError(
            f"{name}={value!r} and {alias}={alias_value!r} conflict: give one of them"
        )
    return value


def model(path_value: Any, model_path: Any, preset: Any) -> Tuple[Optional[str], Optional[str]]:
    """The model: a file (``path`` or llama-cpp-python's ``model_path``) or a preset."""
    file = _one("path", path("path", path_value), "model_path", path("model_path", model_path))
    preset = _text("preset", preset)
    if file is not None and preset is not None:
        raise ConfigError("give a model path or a preset, not both")
    if file is None and preset is None:
        raise ConfigError("give a model path or a preset (preset=NAME, see memcal.presets())")
    return file, preset


def _context(
    file: Optional[str], preset: Optional[str], kw: Mapping[str, Any], batch: Optional[int]
) -> Optional[int]:
    """The context per sequence: ``ctx``, or llama.cpp's total ``n_ctx`` over ``batch``."""
    ctx = _uint("ctx", kw["ctx"])
    n_ctx = _uint("n_ctx", kw["n_ctx"])
    if n_ctx is None:
        return ctx
    total = n_ctx if n_ctx > 0 else _native.trained_context(file, preset)
    if total == 0:
        raise ConfigError(
            "n_ctx=0 asks for the model's trained context, which the model does not give: "
            "give n_ctx or ctx"
        )
    # batch=0 is refused by the configuration check, with the command's message.
    sequences = batch or 1
    if total % sequences != 0:
        raise ConfigError(
            f"n_ctx={total} is llama.cpp's total context over all sequences and does not "
            f"split evenly over batch={sequences}: give ctx (the context per sequence)"
        )
    per_sequence = total // sequences
    if ctx is not None and ctx != per_sequence:
        raise ConfigError(
            f"ctx={ctx} (per sequence) and n_ctx={n_ctx} (total over batch={sequences} "
            f"sequences: {per_sequence} each) conflict: give one of them"
        )
    return per_sequence


def _gpu(kw: Mapping[str, Any]) -> Tuple[Optional[str], Optional[int]]:
    """The device and GPU layers: ``device``/``gpu_layers``, or ``n_gpu_layers``."""
    device = _text("device", kw["device"])
    gpu_layers = _uint("gpu_layers", kw["gpu_layers"])
    n_gpu_layers = kw["n_gpu_layers"]
    if n_gpu_layers is None:
        return device, gpu_layers
    if not _is_int(n_gpu_layers) or n_gpu_layers < -1:
        raise ConfigError(
            f"n_gpu_layers must be a layer count or -1 (every layer), got {n_gpu_layers!r}"
        )
    every = n_gpu_layers == -1
    if gpu_layers is not None and (every or gpu_layers != n_gpu_layers):
        raise ConfigError(
            f"gpu_layers={gpu_layers} and n_gpu_layers={n_gpu_layers} conflict: give one of them"
        )
    # llama-cpp-python offloads when n_gpu_layers is not 0.
    if device is None and n_gpu_layers != 0:
        device = "cuda"
    return device, None if every else n_gpu_layers


def _kv_type(name: str, value: Any) -> Optional[str]:
    """A KV cache type: a name, or a ggml type id as llama-cpp-python's type_k/type_v."""
    if value is None or isinstance(value, str):
        return value
    if not _is_int(value):
        raise ConfigError(f"{name} must be a ggml type id or a type name, got {value!r}")
    type_name = _native.ggml_type_name(value) if value >= 0 else None
    if type_name is None:
        raise ConfigError(f"{name}={value} is not a ggml type id")
    return type_name.lower()


def _same_type(a: Any, b: Any) -> bool:
    return str(a).lower() == str(b).lower()


def _kv_dtype(kw: Mapping[str, Any]) -> Optional[str]:
    """The KV cache type: ``kv_dtype``, or ``type_k`` and ``type_v`` (equal)."""
    type_k = _kv_type("type_k", kw["type_k"])
    type_v = _kv_type("type_v", kw["type_v"])
    if (type_k is None) != (type_v is None):
        raise ConfigError(
            "memcal models one KV cache type for K and V: give both type_k and type_v "
            "(llama.cpp keeps the other at f16), or kv_dtype"
        )
    if type_k is not None and type_v is not None and type_k.lower() != type_v.lower():
        raise ConfigError(
            f"type_k={kw['type_k']!r} and type_v={kw['type_v']!r} differ: memcal models one "
            "KV cache type for K and V"
        )
    kv_dtype: Optional[str] = _one(
        "kv_dtype", _text("kv_dtype", kw["kv_dtype"]), "type_k/type_v", type_k, _same_type
    )
    return kv_dtype


def _int(name: str, value: Any, lowest: int) -> Optional[int]:
    """An int option of at least `lowest` (None stays None)."""
    if value is None:
        return None
    if not _is_int(value):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < lowest:
        raise ConfigError(f"{name} must be at least {lowest}, got {value}")
    return int(value)


def _host_name(value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"hosts: a machine name must be a string, got {value!r}")
    return value


def _hosts(value: Any) -> Optional[str]:
    """``hosts`` as the command line spells it (``NAME[=SIZE],...``): that string, a list
    of names, or a mapping of names to budgets (bytes or sizes; None: no budget)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        parts = []
        for key, budget in value.items():
            name = _host_name(key)
            given = size(f"hosts[{name!r}]", budget)
            parts.append(name if given is None else f"{name}={given}")
        return ",".join(parts)
    if isinstance(value, (list, tuple)):
        return ",".join(_host_name(n) for n in value)
    raise ConfigError(
        "hosts must be a string ('client=8G,box=16G'), a list of machine names or a dict of "
        f"names to budgets, got {value!r}"
    )


def _tensor_split(value: Any) -> Optional[str]:
    """``tensor_split``: proportions as a list (llama-cpp-python's form) or ``"A,B"``."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    ):
        return ",".join(repr(float(v)) for v in value)
    raise ConfigError(f"tensor_split must be a list of numbers, got {value!r}")


# llama-cpp-python's `split_mode` ids (llama.h's `enum llama_split_mode`).
_SPLIT_MODES = {1: "layer", 2: "row"}


def _split_mode(value: Any) -> Optional[str]:
    """``split_mode``: ``"layer"``/``"row"``, or llama.h's id (1: layer, 2: row)."""
    if value is None or isinstance(value, str):
        return value
    if _is_int(value) and value in _SPLIT_MODES:
        return _SPLIT_MODES[value]
    raise ConfigError(
        f"split_mode must be 'layer', 'row', 1 (LLAMA_SPLIT_MODE_LAYER) or 2 "
        f"(LLAMA_SPLIT_MODE_ROW), got {value!r}"
    )


def options(file: Optional[str], preset: Optional[str], kw: Mapping[str, Any]) -> Dict[str, Any]:
    """The native options (every key present) from the keyword arguments `kw` of
    :func:`memcal.estimate` or :func:`memcal.plan`."""
    margin = kw["margin"]
    if margin is not None and (isinstance(margin, bool) or not isinstance(margin, (int, float))):
        raise ConfigError(f"margin must be a number (percent), got {margin!r}")
    uncalibrated = kw["uncalibrated"]
    if not isinstance(uncalibrated, bool):
        raise ConfigError(f"uncalibrated must be a bool, got {uncalibrated!r}")
    table = path("table", kw["table"])
    if table is not None and uncalibrated:
        raise ConfigError("table and uncalibrated=True conflict: give one of them")
    device, gpu_layers = _gpu(kw)
    serve = kw["serve"]
    if not isinstance(serve, bool):
        raise ConfigError(f"serve must be a bool, got {serve!r}")
    batch = _one("batch", _uint("batch", kw["batch"]), "slots", _uint("slots", kw["slots"]))
    n_batch = _uint("n_batch", kw["n_batch"])
    return {
        "backend": _text("backend", kw["backend"]),
        "table": table,
        "uncalibrated": uncalibrated,
        "device": device,
        "batch": batch,
        "ctx": _context(file, preset, kw, batch),
        "ubatch": _one("ubatch", _uint("ubatch", kw["ubatch"]), "n_ubatch",
                       _uint("n_ubatch", kw["n_ubatch"])),
        "max_ubatch": n_batch,
        "kv_dtype": _kv_dtype(kw),
        "flash_attn": _on_off("flash_attn", kw["flash_attn"]),
        "mmap": _one("mmap", _on_off("mmap", kw["mmap"]), "use_mmap",
                     _on_off("use_mmap", kw["use_mmap"])),
        "repack": _on_off("repack", kw["repack"]),
        "prompt": _uint("prompt", kw["prompt"]),
        "decode": _uint("decode", kw["decode"]),
        "gpu_layers": gpu_layers,
        "margin": None if margin is None else float(margin),
        "serve": serve,
        "kv_unified": _on_off("kv_unified", kw["kv_unified"]),
        "cache_ram": _int("cache_ram", kw["cache_ram"], -1),
        "ctx_checkpoints": _uint("ctx_checkpoints", kw["ctx_checkpoints"]),
        "server_batch": n_batch if serve else None,
        "requests": _uint("requests", kw["requests"]),
        "hosts": _hosts(kw["hosts"]),
        "tensor_split": _tensor_split(kw["tensor_split"]),
        "split_mode": _split_mode(kw["split_mode"]),
        "isa": _text("isa", kw["isa"]),
        "engine_build": _uint("engine_build", kw["engine_build"]),
        "override_tensor": _override_tensor(kw["override_tensor"]),
        "cpu_moe": _bool("cpu_moe", kw["cpu_moe"]),
        "n_cpu_moe": _uint("n_cpu_moe", kw["n_cpu_moe"]),
        "no_kv_offload": _no_kv_offload(kw["offload_kqv"]),
        "blas": _bool("blas", kw["blas"]),
        "no_host": _bool("no_host", kw["no_host"]),
        "no_op_offload": _bool("no_op_offload", kw["no_op_offload"]),
    }


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be a bool, got {value!r}")
    return value


def _override_tensor(value: Any) -> List[str]:
    """``override_tensor``: ``-ot`` rules as a list of ``"PATTERN=BUFT"`` or one string
    of rules joined by ``,`` (as the command line takes them)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(
        f"override_tensor must be 'PATTERN=BUFT' or a list of them, got {value!r}"
    )


def _no_kv_offload(offload_kqv: Any) -> bool:
    """``offload_kqv`` (``Llama()``'s name): ``False`` is ``-nkvo``."""
    if offload_kqv is None:
        return False
    return not _bool("offload_kqv", offload_kqv)


def size(name: str, value: Any) -> Optional[str]:
    """A budget: bytes as an int, or a size string the command line reads (``"8G"``)."""
    if value is None or isinstance(value, str):
        return value
    if not _is_int(value):
        raise ConfigError(f"{name} must be bytes (int) or a size such as '8G', got {value!r}")
    return str(_uint(name, value))
