"""docs/acceptance.md's matrix is the features' tags as they are; every tag names a clause."""
from __future__ import annotations

from invoice_archive.acceptance.clauses import CLAUSES
from invoice_archive.acceptance.matrix import BEGIN, END, documented_matrix, listed_scenarios
from tests.support.db import PROJECT


def test_the_documented_matrix_is_the_features_one():
    page = (PROJECT / "docs" / "acceptance.md").read_text(encoding="utf-8")
    section = page.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"
    assert section == documented_matrix(PROJECT / "features"), \
        "docs/acceptance.md's matrix is stale: replace it with `invoice-archive acceptance-matrix`"


def test_every_scenario_outline_example_is_listed_and_every_clause_is_known():
    listed = listed_scenarios(PROJECT / "features")      # raises on a tag that names no clause
    names = [s.name for s in listed]
    assert len(names) == len(set((s.feature, s.name) for s in listed)), "two scenarios read the same in the report"
    tagged = {t for s in listed for t in s.tags}
    assert {f"条款:{c.id}" for c in CLAUSES} <= tagged, "a clause has no scenario"
