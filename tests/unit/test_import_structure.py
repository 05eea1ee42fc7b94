"""The import structure may only get better: the counts below are today's, read from the source
(tests/support/import_graph.py; `python -m tests.support.import_graph` prints the details). Lower a number when a
change removes an import inside a function; never raise it. There are no cycles between packages any more, and the
tests below keep it so.

Before issue 16 (wiring in returnflow/bootstrap.py): 28 package pairs importing each other, 21 packages in one
cycle, 366 function-level imports, 19 late imports, 6 private names imported across packages.
Before the layering (after the wiring, the marketplace and money-flow work): 18 pairs, 20 packages in one cycle,
298 function-level imports, 7 late imports, 0 private names.
After it: 0 pairs, 0 packages in a cycle, 92 function-level imports, 0 late imports, 0 private names; those left are
imports within one package that would close a cycle between its modules, optional heavy libraries imported on use
(reportlab, boto3, openpyxl, pillow-heif, uvicorn ...), pages.install's routers, and files other work was changing.
Since then the count is of imports of returnflow's own modules (61); another library imported inside a function is
listed apart (`on_use`) and not counted: loading ReportLab, Alembic and XlsxWriter where they are used took ~0.2 s
off every process that starts (the CLI, each worker).

The layering, lowest first (groups separated by "/"; a package imports only packages of earlier groups):
  actor, config, db, sheets, texts, api_docs / caches, i18n, storage / errors /
  guard, idempotency, labels, merchants, money, outbound, pdf / fields, web / auth, orders, policy / flows / cases /
  schema, sla, derive, orders_api, system_api / notify, onboarding / refunds, marketplace / logistics / warehouse /
  assessment, flow_docs / pages / analytics, audit, openapi_doc / bootstrap, importer, models /
  jobs, demo, migrations / app, cli.
Where a lower package needs an answer from a higher one, it asks through cases/ports.py (wired by bootstrap) or the
app factory hands it in (web.current_actor's token check, the input guard's refusal page)."""

from __future__ import annotations

from tests.support import import_graph

MUTUAL_PAIRS = 0
PACKAGES_IN_CYCLES = 0
FUNCTION_LEVEL_IMPORTS = 61
LATE_IMPORTS = 0
PRIVATE_ACROSS_PACKAGES = 0


def test_the_import_structure_gets_no_worse():
    graph = import_graph.read()
    assert len(graph.mutual()) <= MUTUAL_PAIRS, import_graph.report(graph)
    assert sum(len(group) for group in graph.cycles()) <= PACKAGES_IN_CYCLES, import_graph.report(graph)
    assert len(graph.function_level) <= FUNCTION_LEVEL_IMPORTS, import_graph.report(graph)
    assert len(graph.late) <= LATE_IMPORTS, import_graph.report(graph)
    assert len(graph.private) <= PRIVATE_ACROSS_PACKAGES, import_graph.report(graph)


def test_no_packages_import_each_other_and_none_is_in_a_cycle():
    graph = import_graph.read()
    assert graph.mutual() == [], import_graph.report(graph)
    assert graph.cycles() == [], import_graph.report(graph)
    assert graph.late == [], import_graph.report(graph)


def test_the_wiring_module_and_the_entry_points_are_outside_every_cycle():
    graph = import_graph.read()
    caught = {package for group in graph.cycles() for package in group}
    assert not caught & {"bootstrap", "app", "cli", "jobs", "demo"}, import_graph.report(graph)


def test_the_reader_sees_a_cycle_hidden_in_a_function(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "__init__.py").write_text("from ..b import x\n")
    (tmp_path / "b" / "__init__.py").write_text("x = 1\n\n\ndef f():\n    from ..a import y\n\n\nfrom ..a import _z\n")
    graph = import_graph.read(tmp_path)
    assert graph.mutual() == [("a", "b")] and graph.cycles() == [["a", "b"]]
    assert len(graph.function_level) == 1 and len(graph.late) == 1 and len(graph.private) == 1
