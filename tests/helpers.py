"""Paths to the real inputs the tests use, all inside the repository: the seeds and the evaluation sets
in ``eval/`` (see ``eval/README.md`` for their origin and licences)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
EVAL = ROOT / "eval"
DEV = EVAL / "dev"
EXTRACTION = EVAL / "extraction"


def seed(prefix: str) -> Path:
    """The seed file whose name starts with ``prefix`` (e.g. "000")."""
    (path,) = SEEDS.glob(f"{prefix}_*")
    return path


def eval_script(name: str) -> ModuleType:
    """One of the scorers in ``eval/`` (e.g. "score"), imported as a module."""
    module_name = f"eval_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, EVAL / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module
