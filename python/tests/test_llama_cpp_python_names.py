"""llama-cpp-python's ``Llama()`` keyword names mean in memcal what they mean there, and a
name given twice with different values is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

import memcal


def same(a: memcal.Estimate, b: memcal.Estimate) -> None:
    assert a.to_dict() == b.to_dict()


def test_model_path_is_path(smollm2: Path) -> None:
    same(memcal.estimate(model_path=smollm2), memcal.estimate(smollm2))
    same(memcal.estimate(smollm2, model_path=str(smollm2)), memcal.estimate(smollm2))


def test_n_ctx_is_the_total_context_over_all_sequences(smollm2: Path, predictor) -> None:
    e = memcal.estimate(smollm2, n_ctx=8192, batch=2)
    assert e.config.ctx == 4096 and e.config.batch == 2
    assert e.to_dict() == predictor.json(["estimate", str(smollm2), "--ctx", "4096", "--batch", "2"])
    same(memcal.estimate(smollm2, n_ctx=2048), memcal.estimate(smollm2, ctx=2048))
    # Both names, when they agree.
    same(memcal.estimate(smollm2, n_ctx=8192, batch=2, ctx=4096), e)


def test_n_ctx_0_is_the_trained_context(smollm2: Path, predictor) -> None:
    trained = memcal.inspect(smollm2).hparams.ctx_train
    assert trained == 8192
    e = memcal.estimate(smollm2, n_ctx=0)
    assert e.config.ctx == trained
    assert e.to_dict() == predictor.json(["estimate", str(smollm2), "--ctx", str(trained)])


def test_n_batch_caps_the_micro_batch_as_llama_does(smollm2: Path) -> None:
    assert memcal.estimate(smollm2, n_batch=256).config.ubatch == 256
    assert memcal.estimate(smollm2, n_batch=256, n_ubatch=128).config.ubatch == 128
    assert memcal.estimate(smollm2, n_batch=2048).config.ubatch == 512
    # It is not memcal's batch (parallel sequences).
    assert memcal.estimate(smollm2, n_batch=256).config.batch == 1


def test_n_ubatch_is_ubatch(smollm2: Path) -> None:
    same(memcal.estimate(smollm2, n_ubatch=256), memcal.estimate(smollm2, ubatch=256))


def test_n_gpu_layers_puts_layers_on_the_gpu(smollm2: Path, predictor) -> None:
    e = memcal.estimate(smollm2, n_gpu_layers=10)
    assert e.config.device == "cuda:0" and e.gpu_layers == 10
    assert e.to_dict() == predictor.json(
        ["estimate", str(smollm2), "--device", "cuda", "--gpu-layers", "10"]
    )
    every = memcal.estimate(smollm2, n_gpu_layers=-1)
    # Every block and the output layer, as llama.cpp counts them ("offloaded 31/31 layers").
    assert every.gpu_layers == every.model.n_layers + 1 and every.config.gpu_layers is None
    # 0 keeps everything on the host, as llama-cpp-python's default does.
    assert memcal.estimate(smollm2, n_gpu_layers=0).config.device == "cpu"
    # An explicit device wins.
    assert memcal.estimate(smollm2, n_gpu_layers=4, device="cuda:1").config.device == "cuda:1"


def test_flash_attn_and_use_mmap_take_bools(smollm2: Path, predictor) -> None:
    e = memcal.estimate(smollm2, flash_attn=False, use_mmap=False)
    assert (e.config.flash_attn, e.config.mmap) == ("off", False)
    assert e.to_dict() == predictor.json(
        ["estimate", str(smollm2), "--flash-attn", "off", "--mmap", "off"]
    )
    same(memcal.estimate(smollm2, flash_attn=True), memcal.estimate(smollm2, flash_attn="on"))
    same(memcal.estimate(smollm2, use_mmap=True, mmap="on"), memcal.estimate(smollm2))


def test_type_k_and_type_v_are_ggml_type_ids_or_names(smollm2: Path) -> None:
    # llama_cpp.GGML_TYPE_Q8_0 == 8, GGML_TYPE_Q4_0 == 2, GGML_TYPE_F32 == 0.
    for ggml_id, name in [(8, "q8_0"), (2, "q4_0"), (0, "f32")]:
        e = memcal.estimate(smollm2, type_k=ggml_id, type_v=ggml_id, flash_attn=True)
        assert e.config.kv_dtype == name
        same(e, memcal.estimate(smollm2, kv_dtype=name, flash_attn=True))
    assert memcal.estimate(smollm2, type_k="Q8_0", type_v="q8_0").config.kv_dtype == "q8_0"


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(ctx=1000, n_ctx=4096), "ctx=1000 (per sequence) and n_ctx=4096"),
        (dict(n_ctx=4097, batch=2), "does not split evenly over batch=2"),
        (dict(ubatch=256, n_ubatch=128), "ubatch=256 and n_ubatch=128 conflict"),
        (dict(gpu_layers=3, n_gpu_layers=4), "gpu_layers=3 and n_gpu_layers=4 conflict"),
        (dict(gpu_layers=3, n_gpu_layers=-1), "gpu_layers=3 and n_gpu_layers=-1 conflict"),
        (dict(mmap=True, use_mmap=False), "mmap='on' and use_mmap='off' conflict"),
        (dict(type_k=8), "give both type_k and type_v"),
        (dict(type_k=8, type_v=1), "differ: memcal models one KV cache type"),
        (dict(type_k=8, type_v=8, kv_dtype="f16"), "kv_dtype='f16' and type_k/type_v='q8_0'"),
        (dict(type_k=999, type_v=999), "type_k=999 is not a ggml type id"),
        (dict(ctx=-1), "ctx must not be negative"),
        (dict(batch="2"), "batch must be an integer"),
        (dict(n_gpu_layers=-2), "n_gpu_layers must be a layer count or -1"),
        (dict(table="t.json", uncalibrated=True), "table and uncalibrated=True conflict"),
    ],
)
def test_conflicting_or_bad_keywords_are_config_errors(smollm2: Path, kwargs, message) -> None:
    with pytest.raises(memcal.ConfigError) as raised:
        memcal.estimate(smollm2, **kwargs)
    assert message in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_a_model_path_and_a_preset_conflict(smollm2: Path) -> None:
    with pytest.raises(memcal.ConfigError, match="not both"):
        memcal.estimate(smollm2, preset="llama-3.2-1b")
    with pytest.raises(memcal.ConfigError, match="give a model path or a preset"):
        memcal.estimate()
    with pytest.raises(memcal.ConfigError, match="conflict"):
        memcal.estimate(smollm2, model_path="other.gguf")
