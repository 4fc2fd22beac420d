"""Bad input raises the documented exception of :mod:`memcal.errors`, with the message the
``predictor`` command prints after ``error: ``."""

from __future__ import annotations

import errno
import json
import struct
from pathlib import Path
from typing import Callable, List

import pytest

import memcal
from memcal import errors


def test_the_hierarchy_is_as_documented() -> None:
    assert issubclass(memcal.ConfigError, (memcal.MemcalError, ValueError))
    assert issubclass(memcal.ModelReadError, memcal.MemcalError)
    assert issubclass(memcal.ModelReadError, OSError)
    assert issubclass(memcal.ModelFormatError, memcal.MemcalError)
    assert issubclass(memcal.ModelFormatError, ValueError)
    assert issubclass(memcal.UnsupportedModelError, memcal.ModelFormatError)
    assert issubclass(memcal.TableError, (memcal.MemcalError, ValueError))
    assert set(errors.__all__) <= set(memcal.__all__)


def check(
    raised: type, call: Callable[[], object], predictor, args: List[str]
) -> pytest.ExceptionInfo:
    with pytest.raises(raised) as info:
        call()
    assert type(info.value) is raised
    assert str(info.value) == predictor.error(args)
    return info


def test_a_missing_file_is_an_os_error(tmp_path: Path, predictor) -> None:
    missing = tmp_path / "nothing-here.gguf"
    for call, args in [
        (lambda: memcal.inspect(missing), ["inspect", str(missing)]),
        (lambda: memcal.estimate(missing), ["estimate", str(missing)]),
        (lambda: memcal.plan(missing, budget="1G"), ["plan", str(missing), "--budget", "1G"]),
    ]:
        info = check(memcal.ModelReadError, call, predictor, args)
        assert info.value.errno == errno.ENOENT
        assert str(missing) in str(info.value)


def test_a_malformed_file_is_a_format_error(tmp_path: Path, predictor) -> None:
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(b"GGUF" + struct.pack("<I", 3))
    for args in [["estimate", str(truncated)], ["inspect", str(truncated)]]:
        call = getattr(memcal, args[0])
        check(memcal.ModelFormatError, lambda: call(truncated), predictor, args)
    # A file of another kind is "not a model file": an unsupported one.
    not_a_model = tmp_path / "notes.txt"
    not_a_model.write_text("hello")
    check(
        memcal.UnsupportedModelError,
        lambda: memcal.estimate(not_a_model),
        predictor,
        ["estimate", str(not_a_model)],
    )


def test_an_unsupported_file_is_an_unsupported_model_error(tmp_path: Path, predictor) -> None:
    future = tmp_path / "future.gguf"
    future.write_bytes(b"GGUF" + struct.pack("<IQQ", 99, 0, 0))
    info = check(
        memcal.UnsupportedModelError,
        lambda: memcal.estimate(future),
        predictor,
        ["estimate", str(future)],
    )
    assert isinstance(info.value, memcal.ModelFormatError) and "GGUF version 99" in str(info.value)


def test_a_checkpoint_without_config_is_a_format_error(hf_checkpoint: Path, tmp_path: Path, predictor) -> None:
    lone = tmp_path / "model.safetensors"
    lone.write_bytes((hf_checkpoint / "model.safetensors").read_bytes())
    with pytest.raises(memcal.ModelFormatError) as info:
        memcal.estimate(lone)
    assert str(info.value) == predictor.error(["estimate", str(lone)])


@pytest.mark.parametrize(
    "kwargs,flags",
    [
        (dict(backend="vllm"), ["--backend", "vllm"]),
        (dict(device="tpu"), ["--device", "tpu"]),
        (dict(kv_dtype="q3"), ["--kv-dtype", "q3"]),
        (dict(flash_attn="maybe"), ["--flash-attn", "maybe"]),
        (dict(mmap="sometimes"), ["--mmap", "sometimes"]),
        (dict(ctx=0), ["--ctx", "0"]),
        (dict(batch=0), ["--batch", "0"]),
        (dict(margin=2000), ["--margin", "2000"]),
        (dict(prompt=9000, ctx=4096), ["--prompt", "9000", "--ctx", "4096"]),
        (dict(serve=True, requests=0), ["--serve", "--requests", "0"]),
        (dict(serve=True, kv_unified="maybe"), ["--serve", "--kv-unified", "maybe"]),
        (dict(hosts="client"), ["--hosts", "client"]),
        (dict(hosts=["a", "a"]), ["--hosts", "a,a"]),
        (dict(hosts="a,b", tensor_split=[1, 2, 3]), ["--hosts", "a,b", "--tensor-split", "1,2,3"]),
        (dict(tensor_split=[1, 1]), ["--tensor-split", "1,1"]),
        (dict(isa="z80"), ["--isa", "z80"]),
    ],
)
def test_bad_options_are_config_errors(smollm2: Path, predictor, kwargs, flags) -> None:
    check(
        memcal.ConfigError,
        lambda: memcal.estimate(smollm2, **kwargs),
        predictor,
        ["estimate", str(smollm2), *flags],
    )


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(serve="yes"), "serve must be a bool"),
        (dict(batch=2, slots=3), "batch=2 and slots=3 conflict"),
        (dict(cache_ram=-2), "cache_ram must be at least -1"),
        (dict(hosts=42), "hosts must be a string"),
        (dict(hosts=["client", None]), "a machine name must be a string"),
        (dict(hosts={"client": "8G", "box": "lots"}), "cannot read size"),
        (dict(tensor_split=["a"]), "tensor_split must be a list of numbers"),
        (dict(split_mode=7), "split_mode must be"),
    ],
)
def test_bad_serving_and_split_options_are_config_errors(smollm2: Path, kwargs, message) -> None:
    with pytest.raises(memcal.ConfigError, match=message):
        memcal.estimate(smollm2, **kwargs)


def test_a_plan_over_machines_takes_their_budgets_not_one(smollm2: Path, predictor) -> None:
    check(
        memcal.ConfigError,
        lambda: memcal.plan(smollm2, budget="8G", hosts="client=4G,box=4G"),
        predictor,
        ["plan", str(smollm2), "--budget", "8G", "--hosts", "client=4G,box=4G"],
    )


def test_an_unknown_preset_is_a_config_error(predictor) -> None:
    check(
        memcal.ConfigError,
        lambda: memcal.estimate(preset="gpt-9"),
        predictor,
        ["estimate", "--preset", "gpt-9"],
    )


def test_an_unreadable_budget_is_a_config_error(smollm2: Path) -> None:
    with pytest.raises(memcal.ConfigError, match="cannot read size"):
        memcal.plan(smollm2, budget="lots")
    with pytest.raises(memcal.ConfigError, match="must not be negative"):
        memcal.plan(smollm2, budget=-1)


def test_a_bad_table_is_a_table_error(smollm2: Path, tmp_path: Path, predictor) -> None:
    table = tmp_path / "table.json"
    table.write_text(json.dumps({"format": 999}))
    with pytest.raises(memcal.MemcalError) as info:
        memcal.estimate(smollm2, table=table)
    assert isinstance(info.value, memcal.TableError)
    assert str(info.value) == predictor.error(["estimate", str(smollm2), "--table", str(table)])
