"""Every public function, on every test model, answers what the ``predictor`` command's
``--json`` answers for the same call, and the typed objects hold all of it."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

import memcal
from memcal import _native


def test_the_installed_package_is_tested_not_the_source_tree() -> None:
    source = Path(__file__).resolve().parents[1] / "memcal"
    assert Path(memcal.__file__).resolve().parent != source
    assert Path(memcal.__file__).resolve().is_relative_to(Path(sys.prefix).resolve())


def test_inspect(model: Path, predictor) -> None:
    i = memcal.inspect(model)
    assert i.to_dict() == predictor.json(["inspect", str(model)])
    assert isinstance(i, memcal.Inspection)
    assert i.n_tensors > 0 and i.hparams.n_layers > 0
    # The typed object holds all of the JSON: the native answer, decoded, is to_dict().
    assert i.to_dict() == json.loads(_native.inspect(str(model)))


# Options of estimate and plan, each with the flags the command takes for them.
CONFIGS = [
    ({}, []),
    (
        dict(ctx=1024, batch=2, ubatch=128, kv_dtype="q8_0", flash_attn="on", margin=0),
        ["--ctx", "1024", "--batch", "2", "--ubatch", "128", "--kv-dtype", "q8_0",
         "--flash-attn", "on", "--margin", "0"],
    ),
    (
        dict(backend="memcal", ctx=512, prompt=64, decode=16, mmap=False, repack=False),
        ["--backend", "memcal", "--ctx", "512", "--prompt", "64", "--decode", "16",
         "--mmap", "off", "--repack", "off"],
    ),
    (dict(backend="llama.cpp", uncalibrated=True), ["--backend", "llama.cpp", "--uncalibrated"]),
    (dict(device="cuda", gpu_layers=1, ctx=256), ["--device", "cuda", "--gpu-layers", "1", "--ctx", "256"]),
]


@pytest.mark.parametrize("options,flags", CONFIGS)
def test_estimate(model: Path, predictor, options, flags) -> None:
    e = memcal.estimate(model, **options)
    expected = predictor.json(["estimate", str(model), *flags])
    assert e.to_dict() == expected
    assert isinstance(e, memcal.Estimate)
    assert e.host_bytes == expected["host_bytes"] == e.components.host.total
    assert e.backend == expected["backend"]


@pytest.mark.parametrize("options,flags", CONFIGS[:3])
def test_plan(model: Path, predictor, options, flags) -> None:
    p = memcal.plan(model, budget="2G", **options)
    assert p.to_dict() == predictor.json(["plan", str(model), "--budget", "2G", *flags])
    assert isinstance(p, memcal.Plan)
    assert p.budget.host_bytes == 2 << 30
    # A budget in bytes is the same budget.
    assert memcal.plan(model, budget=2 << 30, **options) == p


def test_plan_on_a_gpu_budget(predictor) -> None:
    p = memcal.plan(preset="llama-3.1-8b:Q4_K", device="cuda", budget="16G", gpu_budget="4G")
    expected = predictor.json(
        ["plan", "--preset", "llama-3.1-8b:Q4_K", "--device", "cuda", "--budget", "16G",
         "--gpu-budget", "4G"]
    )
    assert p.to_dict() == expected
    assert 0 < p.gpu_layers < p.n_layers


def test_presets_and_estimates_of_presets(predictor) -> None:
    presets = memcal.presets()
    assert [p.to_dict() for p in presets] == predictor.json(["presets"])
    assert all(isinstance(p, memcal.Preset) for p in presets)
    first = presets[0].name
    assert memcal.estimate(preset=first).to_dict() == predictor.json(["estimate", "--preset", first])


def test_backends(predictor) -> None:
    backends = memcal.backends()
    assert [b.to_dict() for b in backends] == predictor.json(["backends"])
    assert {b.name for b in backends} >= {"llama.cpp", "bitnet.cpp", "bitnet-rs"}


def test_answers_are_typed_all_the_way_down(smollm2: Path) -> None:
    e = memcal.estimate(smollm2)
    assert isinstance(e.model, memcal.ModelSummary)
    assert isinstance(e.config, memcal.RunConfig)
    assert isinstance(e.components.host, memcal.DeviceComponents)
    assert e.components.gpu is None and e.gpu_bytes is None
    assert isinstance(e.requirements, memcal.Requirements)
    assert isinstance(e.calibration, memcal.Calibration)
    assert all(isinstance(b, memcal.EngineBuffer) for b in e.buffers) and e.buffers
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.host_bytes = 0  # type: ignore[misc]
    i = memcal.inspect(smollm2)
    assert isinstance(i.hparams, memcal.Hparams) and isinstance(i.gguf, memcal.GgufDetails)
    assert all(isinstance(s, memcal.TypeStats) for s in i.by_type.values())
    # from_dict refuses JSON that is not exactly the answer's (a key added or missing).
    d = e.to_dict()
    d["unexpected"] = 1
    with pytest.raises(TypeError, match="unexpected"):
        memcal.Estimate.from_dict(d)
