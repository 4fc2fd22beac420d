"""memcal: how much RAM and GPU memory an LLM will take, in the engine that runs it
(llama.cpp, bitnet.cpp, BitNet-rs or memcal's reference runtime), from the model file's
header alone, calibrated against measured runs.

>>> import memcal
>>> e = memcal.estimate("model.gguf", n_ctx=8192, flash_attn=True)  # doctest: +SKIP
>>> e.host_bytes, e.components.host.kv_cache                          # doctest: +SKIP
>>> memcal.plan("model.gguf", serve=True, ctx=8192, budget="16G").max_batch  # doctest: +SKIP

Functions (each the ``predictor`` command's subcommand of the same name with ``--json``,
answering a typed object whose ``to_dict()`` is that JSON):

- :func:`inspect`: what a model file holds;
- :func:`estimate`: the memory of one run configuration, per component;
- :func:`plan`: what fits a budget (GPU layers, largest context, largest batch), or
  a split over machines (``hosts=``, llama.cpp's RPC backend);
- :func:`presets`: built-in model shapes (``preset="llama-3.1-8b:Q4_K"``);
- :func:`backends`: the engines and their calibration.

Models: GGUF files, SafeTensors checkpoints (a file with ``config.json`` beside it, an
index, or a Hugging Face checkpoint folder). Errors: :mod:`memcal.errors`. The ``memcal``
command (and ``python -m memcal``) is the ``predictor`` command.
"""

from ._api import backends, estimate, inspect, plan, presets
from ._native import __version__
from .errors import (
    ConfigError,
    MemcalError,
    ModelFormatError,
    ModelReadError,
    TableError,
    UnsupportedModelError,
)
from .results import (
    Backend,
    Budget,
    Calibration,
    Components,
    ComponentsByDevice,
    DeviceComponents,
    EngineBuffer,
    RuntimeMemory,
    TensorOverride,
    Estimate,
    Experts,
    GgufDetails,
    Hparams,
    MlaHeads,
    Inspection,
    MachinePlan,
    ModelSummary,
    Plan,
    PlannedDevice,
    PlannedEstimate,
    Preset,
    Requirements,
    RunConfig,
    ServeOptions,
    ServePlan,
    SplitDevice,
    SplitDeviceComponents,
    SplitOptions,
    SplitPlan,
    TypeStats,
)

__all__ = [
    "__version__",
    "inspect",
    "estimate",
    "plan",
    "presets",
    "backends",
    "MemcalError",
    "ConfigError",
    "ModelReadError",
    "ModelFormatError",
    "UnsupportedModelError",
    "TableError",
    "Backend",
    "Budget",
    "Calibration",
    "Components",
    "ComponentsByDevice",
    "DeviceComponents",
    "EngineBuffer",
    "RuntimeMemory",
    "TensorOverride",
    "Estimate",
    "Experts",
    "GgufDetails",
    "Hparams",
    "MlaHeads",
    "Inspection",
    "MachinePlan",
    "ModelSummary",
    "Plan",
    "PlannedDevice",
    "PlannedEstimate",
    "Preset",
    "Requirements",
    "RunConfig",
    "ServeOptions",
    "ServePlan",
    "SplitDevice",
    "SplitDeviceComponents",
    "SplitOptions",
    "SplitPlan",
    "TypeStats",
]
