"""The order in which whole test modules go to pytest-xdist's workers: longest first.

scripts/test runs the suite with `--dist loadfile --no-loadscope-reorder`: each worker takes the next module off one
queue as it runs short of work, so the queue is sorted by each module's measured time (durations.json, seconds) —
a 2-minute module that starts last leaves one worker finishing it alone while the other has nothing to do. A module
not measured yet is estimated from its number of tests. Refresh the measurements after a change of the suite:

    .venv/bin/python -m pytest -n 2 --dist loadfile --junitxml=/tmp/suite.xml
    .venv/bin/python -m tests.support.schedule /tmp/suite.xml
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

DURATIONS = Path(__file__).with_name("durations.json")
PER_TEST = 0.25  # seconds: the estimate of a test of a module not measured yet


def measured() -> dict[str, float]:
    try:
        return json.loads(DURATIONS.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def longest_first(items: list) -> None:
    """Sorts pytest's items so that modules come longest first, each module's tests in their own order."""
    durations = measured()
    counts = Counter(item.nodeid.split("::", 1)[0] for item in items)

    def expected(module: str) -> float:
        return durations.get(module, counts[module] * PER_TEST)

    items.sort(key=lambda item: -expected(item.nodeid.split("::", 1)[0]))


def from_junit(path: Path) -> dict[str, float]:
    """Each module's time (setup, call and teardown of its tests) in a pytest --junitxml report."""
    totals: Counter[str] = Counter()
    for case in ET.parse(path).iter("testcase"):
        module = case.get("classname", "").replace(".", "/") + ".py"
        totals[module] += float(case.get("time") or 0)
    return {module: round(seconds, 1) for module, seconds in sorted(totals.items(), key=lambda kv: -kv[1])}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} JUNIT_XML")
    found = from_junit(Path(sys.argv[1]))
    DURATIONS.write_text(json.dumps(found, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{DURATIONS}: {len(found)} modules, {sum(found.values()):.0f} s in all")
