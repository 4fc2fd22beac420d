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
    (
        dict(serve=True, slots=4, ctx=1024, kv_unified=True, cache_ram=512, requests=2,
             n_batch=1024),
        ["--serve", "--slots", "4", "--ctx", "1024", "--kv-unified", "on", "--cache-ram",
         "512", "--requests", "2", "--n-batch", "1024", "--ubatch", "512"],
    ),
    (dict(serve=True, batch=2, cache_ram=-1), ["--serve", "--batch", "2", "--cache-ram", "-1"]),
    (
        dict(hosts=["client", "box1", "box2"], tensor_split=[1, 3], ctx=2048),
        ["--hosts", "client,box1,box2", "--tensor-split", "1,3", "--ctx", "2048"],
    ),
    (dict(isa="avx512", engine_build=11434), ["--isa", "avx512", "--engine-build", "11434"]),
]


@pytest.mark.parametrize("options,flags", CONFIGS)
def test_estimate(model: Path, predictor, options, flags) -> None:
    e = memcal.estimate(model, **options)
    expected = predictor.json(["estimate", str(model), *flags])
    assert e.to_dict() == expected
    assert isinstance(e, memcal.Estimate)
    assert e.host_bytes == expected["host_bytes"] == e.components.host.total
    assert e.backend == expected["backend"]


@pytest.mark.parametrize("options,flags", CONFIGS[:3] + CONFIGS[5:7])
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
    # llama.cpp on a GPU: a split over it, -ngl counting the output layer as one more.
    assert isinstance(p, memcal.SplitPlan)
    assert 0 < p.gpu_layers < p.model.n_layers
    assert p.flags == f"-ngl {p.gpu_layers}"
    assert [m.role for m in p.machines] == ["client", "gpu"]


def test_plan_over_gpus_moves_experts(predictor) -> None:
    p = memcal.plan(preset="qwen3-30b-a3b:Q4_K_M", device="cuda", budget="64G", gpus=["8G"],
                    ctx=8192)
    expected = predictor.json(
        ["plan", "--preset", "qwen3-30b-a3b:Q4_K_M", "--device", "cuda", "--budget", "64G",
         "--gpus", "8G", "--ctx", "8192"]
    )
    assert p.to_dict() == expected
    assert isinstance(p, memcal.SplitPlan)
    assert p.n_cpu_moe is not None and p.flags.endswith(f"--n-cpu-moe {p.n_cpu_moe}")


def test_gpu_placement_options_are_the_command_line_flags(model: Path, predictor) -> None:
    e = memcal.estimate(preset="qwen3-30b-a3b:Q4_K_M", device="cuda", n_cpu_moe=4,
                        override_tensor=["blk\\.4[0-7]\\.ffn_.*_exps=CPU"], offload_kqv=False)
    expected = predictor.json(
        ["estimate", "--preset", "qwen3-30b-a3b:Q4_K_M", "--device", "cuda", "--n-cpu-moe", "4",
         "-ot", "blk\\.4[0-7]\\.ffn_.*_exps=CPU", "-nkvo"]
    )
    assert e.to_dict() == expected
    assert e.config.kv_offload is False and len(e.config.tensor_overrides) == 12
    gpu = e.components.devices[0]
    assert {b.buffer for b in gpu.buffers} >= {"CUDA0"}
    assert {r.name for r in gpu.runtime} >= {"gpu_context", "memory_pool"}


def test_a_blas_build_is_the_command_line_flag(predictor) -> None:
    ffn_on_cpu = "blk\\.[0-9]+\\.ffn.*=CPU"
    e = memcal.estimate(preset="qwen3-30b-a3b:Q4_K_M", device="cuda",
                        override_tensor=[ffn_on_cpu], blas=True)
    expected = predictor.json(
        ["estimate", "--preset", "qwen3-30b-a3b:Q4_K_M", "--device", "cuda", "-ot", ffn_on_cpu,
         "--blas"]
    )
    assert e.to_dict() == expected
    assert e.config.blas is True
    # BLAS's own buffer: the router's product of the host blocks, with its input.
    host = {(b.buffer, b.component): b.bytes for b in e.buffers}
    assert host[("CPU", "compute")] > 0
    with pytest.raises(memcal.ConfigError, match="GPU runs only"):
        memcal.estimate(preset="qwen3-30b-a3b:Q4_K_M", blas=True)


def test_no_host_is_the_command_line_flag(predictor) -> None:
    e = memcal.estimate(preset="llama-3.2-1b:Q4_0", device="cuda", gpu_layers=4, no_host=True)
    expected = predictor.json(
        ["estimate", "--preset", "llama-3.2-1b:Q4_0", "--device", "cuda", "--gpu-layers", "4",
         "--no-host"]
    )
    assert e.to_dict() == expected
    assert e.config.no_host is True
    host = {(b.buffer, b.component): b.bytes for b in e.buffers}
    assert host[("CPU_REPACK", "model")] > 0


def test_no_op_offload_is_the_command_line_flag(predictor) -> None:
    e = memcal.estimate(
        preset="llama-3.2-1b:Q4_0", device="cuda", gpu_layers=0, no_op_offload=True
    )
    expected = predictor.json(
        ["estimate", "--preset", "llama-3.2-1b:Q4_0", "--device", "cuda", "--gpu-layers", "0",
         "--no-op-offload"]
    )
    assert e.to_dict() == expected
    assert e.config.no_op_offload is True
    gpu = {(b.buffer, b.component): b.bytes for d in e.components.devices for b in d.buffers}
    assert gpu[("CUDA0", "compute")] == 0


def test_a_served_plan_sizes_the_prompt_cache(predictor) -> None:
    p = memcal.plan(preset="llama-3.1-8b:Q4_K", serve=True, ctx=8192, budget="16G")
    expected = predictor.json(
        ["plan", "--preset", "llama-3.1-8b:Q4_K", "--serve", "--ctx", "8192", "--budget", "16G"]
    )
    assert isinstance(p, memcal.Plan) and isinstance(p.serve, memcal.ServePlan)
    assert p.to_dict() == expected
    assert isinstance(p.requested.config.serve, memcal.ServeOptions)
    assert p.serve.requested_cache_ram_mib == 8192


@pytest.mark.parametrize(
    "hosts",
    ["client=7G,box1=4G,box2=4G", ["client=7G", "box1=4G", "box2=4G"],
     {"client": "7G", "box1": 4 << 30, "box2": "4G"}],
)
def test_a_plan_over_machines(predictor, hosts) -> None:
    p = memcal.plan(preset="llama-3.1-8b:Q4_K", ctx=16384, hosts=hosts)
    expected = predictor.json(
        ["plan", "--preset", "llama-3.1-8b:Q4_K", "--ctx", "16384", "--hosts",
         "client=7G,box1=4G,box2=4G"]
    )
    assert isinstance(p, memcal.SplitPlan)
    assert p.to_dict() == expected
    assert [m.name for m in p.machines] == ["client", "box1", "box2"]
    assert all(isinstance(m, memcal.MachinePlan) for m in p.machines)
    assert sum(p.tensor_split) == p.gpu_layers
    assert all(isinstance(d, memcal.PlannedDevice) for d in p.requested.devices)
    # The estimate of that split gives each worker the same figure as the plan.
    e = memcal.estimate(
        preset="llama-3.1-8b:Q4_K", ctx=16384, hosts=["client", "box1", "box2"],
        tensor_split=list(p.tensor_split),
    )
    by_name = {d.name: d for d in e.components.devices}
    assert all(isinstance(d, memcal.SplitDeviceComponents) for d in by_name.values())
    for m in p.machines[1:]:
        assert by_name[m.name].total == m.needs_bytes
    assert e.components.host.total == p.machines[0].needs_bytes


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
