"""The installed package carries its type information (PEP 561): ``py.typed``, annotated
modules, and a stub of the native module that lists exactly what the module has."""

from __future__ import annotations

import ast
import inspect as pyinspect
import typing
from pathlib import Path

import memcal
from memcal import _native, results

PACKAGE = Path(memcal.__file__).parent


def test_py_typed_and_the_native_stub_are_installed() -> None:
    assert (PACKAGE / "py.typed").is_file()
    assert (PACKAGE / "_native.pyi").is_file()


def test_the_stub_lists_exactly_the_native_functions() -> None:
    tree = ast.parse((PACKAGE / "_native.pyi").read_text())
    stubbed = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    native = {
        name for name, value in vars(_native).items()
        if callable(value) and not name.startswith("_")
    }
    assert stubbed == native


def test_every_public_function_is_annotated() -> None:
    for name in ["inspect", "estimate", "plan", "presets", "backends"]:
        f = getattr(memcal, name)
        hints = typing.get_type_hints(f)
        assert "return" in hints, name
        params = pyinspect.signature(f).parameters
        assert set(params) <= set(hints), (name, set(params) - set(hints))
        assert f.__doc__, name


def test_every_answer_field_is_typed() -> None:
    for name in results.__all__:
        cls = getattr(results, name)
        assert typing.get_type_hints(cls), name
        assert cls.__doc__, name
