"""How the package's imports hang together, read from the source with the stdlib ast module (nothing is imported).

- package imports: returnflow.<a>.* importing returnflow.<b>.* at run time (imports under `if TYPE_CHECKING` do
  not count; imports inside functions do — they hide a cycle rather than remove it). A top-level module
  (returnflow/app.py) is a package of its own;
- cycles: pairs of packages that import each other, and the packages caught in any cycle;
- function-level imports: import statements inside a function body;
- late imports: module-level imports after the module's first statement that is not an import;
- private imports: a name starting with "_" imported from another package.

`python -m tests.support.import_graph` prints the report (the numbers tests/unit/test_import_structure.py holds).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "src" / "returnflow"


@dataclass
class Graph:
    edges: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    function_level: list[str] = field(default_factory=list)  # of returnflow's own modules: a hidden cycle's sign
    on_use: list[str] = field(default_factory=list)  # of other libraries inside a function: loaded when used
    late: list[str] = field(default_factory=list)
    private: list[str] = field(default_factory=list)

    def mutual(self) -> list[tuple[str, str]]:
        return sorted({tuple(sorted((a, b))) for a, bs in self.edges.items() for b in bs
                       if a in self.edges.get(b, ())})

    def cycles(self) -> list[list[str]]:
        """Strongly connected groups of more than one package (Tarjan)."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        found: list[list[str]] = []

        def visit(v: str) -> None:
            index[v] = low[v] = len(index)
            stack.append(v)
            for w in sorted(self.edges.get(v, ())):
                if w not in index:
                    visit(w)
                    low[v] = min(low[v], low[w])
                elif w in stack:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                group = []
                while True:
                    w = stack.pop()
                    group.append(w)
                    if w == v:
                        break
                if len(group) > 1:
                    found.append(sorted(group))

        for v in sorted(set(self.edges) | {w for ws in self.edges.values() for w in ws}):
            if v not in index:
                visit(v)
        return found


def _module(path: Path, root: Path) -> tuple[list[str], bool]:
    parts = ["returnflow", *path.relative_to(root).with_suffix("").parts]
    return (parts[:-1], True) if parts[-1] == "__init__" else (parts, False)


def _package(parts: list[str]) -> str:
    return parts[1] if len(parts) > 1 else "returnflow"


def _targets(node: ast.Import | ast.ImportFrom, parts: list[str], is_package: bool,
             root: Path) -> list[tuple[list[str], str]]:
    """(module parts, imported name or "") for each name the statement imports."""
    if isinstance(node, ast.Import):
        return [(a.name.split("."), "") for a in node.names]
    here = parts if is_package else parts[:-1]
    base = here[:len(here) - node.level + 1] if node.level else []
    module = base + (node.module.split(".") if node.module else [])
    found = []
    for alias in node.names:
        sub = root.joinpath(*module[1:], alias.name)
        if module[:1] == ["returnflow"] and (sub.is_dir() or sub.with_suffix(".py").exists()):
            found.append((module + [alias.name], ""))  # `from .. import logistics`: the module itself
        else:
            found.append((module, alias.name))
    return found


def read(root: Path = ROOT) -> Graph:
    graph = Graph()
    for path in sorted(root.rglob("*.py")):
        parts, is_package = _module(path, root)
        name, package = ".".join(parts), _package(parts)

        def record(node, where: str) -> None:
            ours = False
            for module, imported in _targets(node, parts, is_package, root):
                if module[:1] != ["returnflow"]:
                    continue
                ours = True
                other = _package(module)
                if other not in (package, "returnflow"):
                    graph.edges[package].add(other)
                    if imported.startswith("_"):
                        graph.private.append(f"{name}:{node.lineno} {'.'.join(module)}.{imported}")
            if where == "function":
                (graph.function_level if ours else graph.on_use).append(f"{name}:{node.lineno}")
            elif where == "late":
                graph.late.append(f"{name}:{node.lineno}")

        def walk(body: list, in_function: bool, top: bool) -> None:
            code_seen = False
            for node in body:
                if isinstance(node, ast.Import | ast.ImportFrom):
                    record(node, "function" if in_function else ("late" if top and code_seen else ""))
                    continue
                if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                    continue
                if top and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
                    code_seen = True
                inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                for name_ in ("body", "orelse", "finalbody"):
                    sub = getattr(node, name_, None)
                    if isinstance(sub, list):
                        walk(sub, inner, False)
                for handler in getattr(node, "handlers", []) or []:
                    walk(handler.body, inner, False)
                for case in getattr(node, "cases", []) or []:
                    walk(case.body, inner, False)

        walk(ast.parse(path.read_text(), str(path)).body, False, True)
    return graph


def report(graph: Graph) -> str:
    cycles = graph.cycles()
    lines = [f"package pairs importing each other: {len(graph.mutual())}",
             *[f"  {a} <-> {b}" for a, b in graph.mutual()],
             f"packages in a cycle: {sum(len(c) for c in cycles)} in {len(cycles)} group(s)",
             *[f"  {' '.join(c)}" for c in cycles],
             f"function-level imports: {len(graph.function_level)}",
             f"other libraries imported on use: {len(graph.on_use)}",
             f"late imports: {len(graph.late)}", *[f"  {x}" for x in graph.late],
             f"private names imported across packages: {len(graph.private)}", *[f"  {x}" for x in graph.private]]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(read()))
