"""The full UCI Online Retail file on PostgreSQL, imported once for both checks (tests/support/uci_full.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import BACKENDS
from tests.support.uci_full import MARKS, Loaded, check_counts, check_figures, loaded

POSTGRES = BACKENDS[1]
pytestmark = [*MARKS, *POSTGRES.marks]  # marked and skipped as every PostgreSQL test is


@pytest.fixture(scope="module")
def uci_full(tmp_path_factory) -> Iterator[Loaded]:
    with loaded("postgresql", tmp_path_factory.mktemp("uci_full")) as data:
        yield data


def test_full_uci_file_imports_with_the_expected_counts(uci_full):
    check_counts(uci_full)


def test_full_uci_data_set_figures_match_the_csv_to_the_cent(uci_full):
    check_figures(uci_full)
