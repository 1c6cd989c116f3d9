"""Inversion methods, one module each; importing this package registers the built-in ones.

See base.py for what a method declares and docs/architecture.md for adding one.
"""
from __future__ import annotations

from importlib import import_module

from .base import (REGISTRY, Cancel, InversionMethod, InversionNetworks, InversionResult, NoSettings, Progress,
                   register)

# the modules of the built-in methods, in the order tables and tabs list them
BUILT_IN = ("e4e", "refinestyle_1s", "refinestyle_2s", "refinestyle_opt", "gradstyle", "gani", "pti")
for _name in BUILT_IN:
    import_module(f".{_name}", __name__)

__all__ = ["BUILT_IN", "REGISTRY", "Cancel", "InversionMethod", "InversionNetworks", "InversionResult", "NoSettings",
           "Progress", "register"]
