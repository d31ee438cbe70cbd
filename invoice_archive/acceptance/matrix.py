"""The clause → scenario matrix as docs/acceptance.md shows it: read from the feature
files' ``@条款:`` tags (no run needed; a report adds each scenario's result)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from invoice_archive.acceptance.clauses import unknown_clauses
from invoice_archive.acceptance.report import NOT_RUN, matrix, matrix_markdown, scenario_title

BEGIN = "<!-- matrix: invoice-archive acceptance-matrix -->"
END = "<!-- /matrix -->"


@dataclass(frozen=True)
class Listed:
    feature: str
    name: str
    tags: list[str]
    status: str = NOT_RUN


def listed_scenarios(features: Path | None = None) -> list[Listed]:
    """Every scenario of the feature files (an outline once per example), with its tags."""
    from pytest_bdd.parser import FeatureParser

    from invoice_archive.acceptance.runner import features_dir

    base = features or features_dir()
    out = []
    for path in sorted(base.glob("*/*.feature")):
        feature = FeatureParser(str(base), str(path.relative_to(base))).parse()
        for template in feature.scenarios.values():
            tags = sorted(template.tags | feature.tags)
            bad = unknown_clauses(tags)
            if bad:
                raise ValueError(f"{path.name}「{template.name}」标注了未知的条款 {bad}（见 acceptance/clauses.py）")
            contexts = [c for ex in template.examples for c in ex.as_contexts()] or [{}]
            for context in contexts:
                out.append(Listed(feature.name, scenario_title(template.render(context).name, context), tags))
    return out


def documented_matrix(features: Path | None = None) -> str:
    return matrix_markdown(matrix(listed_scenarios(features)), with_results=False)


__all__ = ["BEGIN", "END", "Listed", "documented_matrix", "listed_scenarios"]
