"""The benchmarks under bench/ are run by hand, not by the suite: what they import of returnflow must still exist
(a moved module once broke bench/lifecycle.py unnoticed). Every import of a returnflow name in a bench, at the top
or inside a function, resolves."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def imported_names(path: Path) -> list[tuple[str, str | None]]:
    """(module, name) of every `from returnflow... import name` and (module, None) of every `import returnflow...`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "returnflow":
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names if alias.name.split(".")[0] == "returnflow"]
    return found


BENCHES = sorted(BENCH.glob("*.py"))


def test_there_are_benches_to_check():
    assert len(BENCHES) >= 10
    assert any(imported_names(path) for path in BENCHES)


@pytest.mark.parametrize("path", BENCHES, ids=lambda p: p.name)
def test_what_a_bench_imports_of_returnflow_exists(path: Path):
    missing = []
    for module_name, name in imported_names(path):
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            missing.append(f"{module_name}: {error}")
            continue
        if name is not None and not hasattr(module, name):
            try:
                importlib.import_module(f"{module_name}.{name}")
            except ImportError:
                missing.append(f"{module_name}.{name}")
    assert not missing, f"{path.name} imports what returnflow no longer has: {missing}"
