"""The acceptance report: what ran, what it showed, and files an evaluator can attach.

The run is recorded as plain data (:class:`Run`, :class:`ScenarioResult`,
:class:`StepResult`) and written as

* ``report.html``   the Chinese report: the deployment, the clause → scenario
  matrix, and every feature and scenario with its steps, results, durations,
  evidence (档号, digests ...) and, for a skip, why;
* ``cucumber.json`` Cucumber's JSON (a skipped scenario lists every step as
  skipped, not as passed);
* ``junit.xml``     JUnit XML (a failed scenario is a failure, a skipped one is skipped);
* ``results.json``  the run as recorded, for tools;
* ``SHA256SUMS``    the SHA-256 of each of these; the deployment signs its SHA-256
  (``signature.json``), and ``invoice-archive verify-report`` checks it all offline.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from invoice_archive.acceptance.clauses import BY_ID, CLAUSES, SOURCES, clause_ids

PASSED, FAILED, SKIPPED, UNDEFINED, NOT_RUN = "passed", "failed", "skipped", "undefined", "not_run"
STATUS_WORDS = {PASSED: "通过", FAILED: "未通过", SKIPPED: "跳过", UNDEFINED: "步骤未定义", NOT_RUN: "未执行"}
REPORT_FILES = ("report.html", "cucumber.json", "junit.xml", "results.json")
SUMS = "SHA256SUMS"
SIGNATURE = "signature.json"


@dataclass
class StepResult:
    keyword: str
    text: str
    line: int
    status: str = NOT_RUN
    duration: float = 0.0
    error: str | None = None
    evidence: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ScenarioResult:
    nodeid: str
    feature: str
    feature_file: str
    feature_description: str
    name: str
    line: int
    tags: list[str]
    steps: list[StepResult]
    status: str = NOT_RUN
    duration: float = 0.0
    reason: str | None = None       # why it was skipped, or what failed first
    started: str | None = None

    @property
    def clauses(self) -> list[str]:
        return clause_ids(self.tags)


@dataclass
class Run:
    started: str
    finished: str | None = None
    url: str = ""
    run_number: int | None = None
    deployment: dict[str, Any] = field(default_factory=dict)
    health: dict[str, Any] = field(default_factory=dict)
    people: dict[str, str] = field(default_factory=dict)      # character -> the token's person (role)
    scenarios: list[ScenarioResult] = field(default_factory=list)
    tool_version: str = ""

    def counts(self) -> dict[str, int]:
        out = {PASSED: 0, FAILED: 0, SKIPPED: 0, NOT_RUN: 0}
        for s in self.scenarios:
            out[s.status if s.status in out else FAILED] += 1
        return out

    @property
    def ok(self) -> bool:
        return bool(self.scenarios) and not any(s.status in (FAILED, UNDEFINED) for s in self.scenarios)

    def features(self) -> list[tuple[str, list[ScenarioResult]]]:
        seen: dict[str, list[ScenarioResult]] = {}
        for s in self.scenarios:
            seen.setdefault(s.feature_file, []).append(s)
        return list(seen.items())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- the clause matrix ----------------------------------------------------------------------------

@dataclass(frozen=True)
class MatrixRow:
    clause_id: str
    source: str
    clause: str
    text: str
    doc: str
    scenarios: tuple[tuple[str, str, str], ...]     # (feature, scenario, status)

    @property
    def verdict(self) -> str:
        statuses = [s for _, _, s in self.scenarios]
        if not statuses:
            return "无场景"
        if any(s in (FAILED, UNDEFINED) for s in statuses):
            return "未通过"
        if PASSED in statuses:
            return "通过" if all(s == PASSED for s in statuses) else "部分验证"
        return "未验证"


def scenario_title(name: str, example: dict[str, Any]) -> str:
    """An outline's example, named by its values when the scenario's name does not show them."""
    values = [str(v) for v in example.values()]
    if not values or all(v in name for v in values):
        return name
    return f"{name}（{'、'.join(values)}）"


def short_feature(name: str) -> str:
    """A feature's name up to its parenthesis or colon (电子会计档案归档（DA/T 94 …） → 电子会计档案归档)."""
    return re.split(r"[（(：:]", name, maxsplit=1)[0].strip() or name


def matrix(scenarios: Iterable[Any]) -> list[MatrixRow]:
    """One row per clause, in the catalogue's order, with the scenarios tagged with it
    (a scenario outline's examples each count). Scenarios are anything with
    ``feature``, ``name``, ``tags`` and ``status``."""
    tagged: dict[str, list[tuple[str, str, str]]] = {c.id: [] for c in CLAUSES}
    for s in scenarios:
        for cid in clause_ids(s.tags):
            tagged.setdefault(cid, []).append((short_feature(s.feature), s.name, s.status))
    rows = []
    for c in CLAUSES:
        rows.append(MatrixRow(c.id, c.source, c.clause, c.text, c.doc, tuple(tagged[c.id])))
    return rows


def matrix_markdown(rows: list[MatrixRow], *, with_results: bool) -> str:
    """The matrix as a Markdown table (docs/acceptance.md lists scenarios; a report adds results)."""
    lines = []
    for source in SOURCES:
        lines += ["", f"### {source}", ""]
        lines += (["| 条款 | 要求（本项目的实现） | 场景 | 结果 |", "|---|---|---|---|"] if with_results
                  else ["| 条款 | 要求（本项目的实现） | 场景 |", "|---|---|---|"])
        for r in (r for r in rows if r.source == source):
            names = "<br>".join(dict.fromkeys(f"{f}：{n}" + (f"（{STATUS_WORDS.get(st, st)}）" if with_results else "")
                                              for f, n, st in r.scenarios)) or "（尚无场景）"
            cells = [f"`{r.clause_id}`（{r.clause}）", r.text, names] + ([r.verdict] if with_results else [])
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines).lstrip("\n") + "\n"


# -- writers ----------------------------------------------------------------------------------------

_CUCUMBER_STATUS = {PASSED: "passed", FAILED: "failed", SKIPPED: "skipped", UNDEFINED: "undefined",
                    NOT_RUN: "skipped"}


def cucumber_json(run: Run) -> list[dict[str, Any]]:
    """Cucumber's JSON format; every step of a skipped scenario is there, as skipped."""
    out = []
    for uri, scenarios in run.features():
        first = scenarios[0]
        elements = []
        for s in scenarios:
            steps = []
            for st in s.steps:
                result: dict[str, Any] = {"status": _CUCUMBER_STATUS[st.status],
                                          "duration": int(st.duration * 1_000_000_000)}
                if st.error:
                    result["error_message"] = st.error
                elif st.status == SKIPPED and s.reason:
                    result["error_message"] = s.reason
                steps.append({"keyword": st.keyword + " ", "name": st.text, "line": st.line,
                              "match": {"location": f"{uri}:{st.line}"}, "result": result,
                              **({"embeddings": [], "output": [f"{k}：{v}" for k, v in st.evidence]}
                                 if st.evidence else {})})
            elements.append({"type": "scenario", "keyword": "场景", "id": s.nodeid, "name": s.name,
                             "line": s.line, "description": "", "tags": [{"name": "@" + t, "line": s.line - 1}
                                                                         for t in s.tags],
                             "steps": steps})
        out.append({"uri": uri, "id": uri, "keyword": "功能", "name": first.feature,
                    "description": first.feature_description, "line": 2, "tags": [], "elements": elements})
    return out


def junit_xml(run: Run) -> bytes:
    counts = run.counts()
    root = ET.Element("testsuites", name="电子发票电子化报销、入账、归档 验收",
                      tests=str(len(run.scenarios)), failures=str(counts[FAILED]), skipped=str(counts[SKIPPED]),
                      time=f"{sum(s.duration for s in run.scenarios):.3f}")
    for uri, scenarios in run.features():
        suite = ET.SubElement(root, "testsuite", name=scenarios[0].feature, tests=str(len(scenarios)),
                              failures=str(sum(s.status in (FAILED, UNDEFINED) for s in scenarios)),
                              skipped=str(sum(s.status in (SKIPPED, NOT_RUN) for s in scenarios)), errors="0",
                              time=f"{sum(s.duration for s in scenarios):.3f}", timestamp=run.started)
        for s in scenarios:
            case = ET.SubElement(suite, "testcase", classname=uri, name=s.name, time=f"{s.duration:.3f}")
            if s.status in (FAILED, UNDEFINED):
                failure = ET.SubElement(case, "failure", message=(s.reason or "")[:500])
                failure.text = "\n".join(f"{st.keyword} {st.text}：{st.error}" for st in s.steps if st.error)
            elif s.status in (SKIPPED, NOT_RUN):
                ET.SubElement(case, "skipped", message=s.reason or "")
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(
                f"[{STATUS_WORDS[st.status]}] {st.keyword} {st.text}"
                + "".join(f"\n    {k}：{v}" for k, v in st.evidence) for st in s.steps)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def html(run: Run) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("invoice_archive.acceptance", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "jinja2"]), trim_blocks=True,
                             lstrip_blocks=True)
    from invoice_archive.acceptance.words import POSTED_WHEN_LABELS, SYSTEM_LABELS, VERDICT_LABELS, label

    env.filters["beijing"] = beijing
    env.filters["verdict"] = lambda code: label(VERDICT_LABELS, code)
    env.filters["system"] = lambda code: label(SYSTEM_LABELS, code)
    env.filters["posted_when"] = lambda code: label(POSTED_WHEN_LABELS, code)
    template = env.get_template("report.html.jinja2")
    return template.render(run=run, counts=run.counts(), words=STATUS_WORDS, matrix=matrix(run.scenarios),
                           sources=SOURCES, clauses=BY_ID, signature_file=SIGNATURE, sums_file=SUMS)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write(run: Run, out: Path) -> str:
    """Write the report files and SHA256SUMS into ``out``; the SHA-256 of SHA256SUMS (what the
    deployment is asked to sign)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / SIGNATURE).unlink(missing_ok=True)      # a signature of an earlier run must not stay beside this one
    (out / "report.html").write_text(html(run), encoding="utf-8")
    (out / "cucumber.json").write_text(json.dumps(cucumber_json(run), ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "junit.xml").write_bytes(junit_xml(run))
    (out / "results.json").write_text(json.dumps(run.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    sums = "".join(f"{sha256_file(out / name)}  {name}\n" for name in REPORT_FILES)
    (out / SUMS).write_text(sums, encoding="ascii")
    return hashlib.sha256(sums.encode("ascii")).hexdigest()


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def beijing(iso: str | None) -> str:
    """An ISO time as Beijing time, as the pages write it."""
    if not iso:
        return ""
    when = dt.datetime.fromisoformat(iso)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S 北京时间")


__all__ = ["FAILED", "MatrixRow", "NOT_RUN", "PASSED", "REPORT_FILES", "Run", "SIGNATURE", "SKIPPED", "SUMS",
           "ScenarioResult", "StepResult", "UNDEFINED", "beijing", "cucumber_json", "html", "junit_xml",
           "matrix", "matrix_markdown", "now_iso", "scenario_title", "short_feature", "write"]

