"""The exceptions memcal raises.

Every error is a :class:`MemcalError`; each kind also derives from the built-in exception
Python code already catches for it, so ``except ValueError`` and ``except OSError`` work::

    MemcalError                       any error from memcal
    ├── ConfigError(ValueError)       a bad option: unknown device, backend, preset or KV
    │                                 type, a value out of range, an unreadable size,
    │                                 conflicting keywords (e.g. ctx and n_ctx)
    ├── ModelReadError(OSError)       the model file cannot be read (missing, no
    │                                 permission); ``errno`` is the OS error number
    ├── ModelFormatError(ValueError)  the file is not a valid model file
    │   └── UnsupportedModelError     a valid file holding something memcal does not support
    └── TableError(ValueError)        a calibration table that cannot be used

The message is the one the ``predictor`` (and ``memcal``) command prints after
``error:``: it names the file and what is wrong. Errors that fit none of the kinds (no
CUDA driver to read a GPU budget from, for instance) are raised as :class:`MemcalError`
itself.
"""

from __future__ import annotations

__all__ = [
    "MemcalError",
    "ConfigError",
    "ModelReadError",
    "ModelFormatError",
    "UnsupportedModelError",
    "TableError",
]


class MemcalError(Exception):
    """Any error from memcal."""


class ConfigError(MemcalError, ValueError):
    """A bad option: unknown name, value out of range, conflicting keywords."""


class ModelReadError(MemcalError, OSError):
    """The model file cannot be read; ``errno`` is the OS error number when there is one."""


class ModelFormatError(MemcalError, ValueError):
    """The file is not a valid model file (the message says what is wrong, and where)."""


class UnsupportedModelError(ModelFormatError):
    """A valid model file holding something memcal does not support."""


class TableError(MemcalError, ValueError):
    """A calibration table that cannot be used."""
