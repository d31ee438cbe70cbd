"""The pytest side of a run against a URL: :class:`RemoteRun` gives the steps their
harness (the deployment at the URL, the token file's people, the run's synthetic
data), and :class:`Recorder` writes down every scenario and step as it runs (status,
duration, evidence, the reason of a skip), for the report."""
from __future__ import annotations

import time
from typing import Any

import pytest

from invoice_archive.acceptance.clauses import IN_PROCESS_ONLY, TAG_PREFIX
from invoice_archive.acceptance.harness import RemoteHarness
from invoice_archive.acceptance.report import (
    FAILED, NOT_RUN, PASSED, SKIPPED, UNDEFINED, Run, ScenarioResult, StepResult, now_iso, scenario_title,
)
from invoice_archive.acceptance.steps.common import evidence_of


HARNESS = pytest.StashKey[RemoteHarness]()


@pytest.fixture(scope="session")
def harness(request: pytest.FixtureRequest) -> RemoteHarness:
    """The deployment at the URL, the token file's people and the run's data (RemoteRun)."""
    return request.config.stash[HARNESS]


class RemoteRun:
    """Hooks of a run against a deployment at a URL (this module is its plugin too: the
    ``harness`` fixture above)."""

    def __init__(self, harness: RemoteHarness, only: list[str] | None = None) -> None:
        self._harness = harness
        self._only = [o for o in (only or []) if o]

    def pytest_configure(self, config: Any) -> None:
        config.stash[HARNESS] = self._harness

    def pytest_collection_modifyitems(self, config: Any, items: list[Any]) -> None:
        """``--only TEXT``: the scenarios whose feature file, feature or scenario name holds TEXT.
        A scenario tagged @进程内 is skipped with the reason: it would appraise, destroy or hand
        over a deployment's real records, so it runs in-process only."""
        for item in items:
            found = _scenario_of(item)
            if found is not None and IN_PROCESS_ONLY in (found[0].tags | found[0].feature.tags):
                item.add_marker(pytest.mark.skip(reason=(
                    "本场景只在进程内（make test）对验收程序自建的数据库运行：鉴定和销毁针对单位全部保管期满的档案，"
                    "移交针对整个会计年度，会计账簿需要由验收程序记账的记账系统；针对在用的部署运行会改动其真实档案，"
                    "故跳过（docs/acceptance.md）。")))
        if not self._only:
            return
        keep, drop = [], []
        for item in items:
            found = _scenario_of(item)
            where = "" if found is None else \
                f"{found[0].feature.rel_filename} {found[0].feature.name} {scenario_title(found[0].name, found[1])}"
            (keep if any(o in where for o in self._only) else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    def pytest_bdd_apply_tag(self, tag: str, function: Any) -> Any:
        return True if tag.startswith(TAG_PREFIX) or tag == IN_PROCESS_ONLY else None


def _scenario_of(item: Any) -> Any:
    """The rendered scenario a pytest-bdd item runs (an outline's example filled in)."""
    from pytest_bdd.scenario import scenario_wrapper_template_registry

    template = scenario_wrapper_template_registry.get(getattr(item, "function", None))
    if template is None:
        return None
    example = item.callspec.params.get("_pytest_bdd_example", {}) if hasattr(item, "callspec") else {}
    return template.render(example), example


def _record(nodeid: str, scenario: Any, example: dict[str, Any]) -> ScenarioResult:
    feature = scenario.feature
    return ScenarioResult(
        nodeid=nodeid, feature=feature.name, feature_file=feature.rel_filename,
        feature_description=(feature.description or "").strip(), name=scenario_title(scenario.name, example),
        line=scenario.line_number,
        tags=sorted(scenario.tags | feature.tags),
        steps=[StepResult(keyword=st.keyword.strip(), text=st.name, line=st.line_number) for st in scenario.steps])


def _message(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 4000 else text[:4000] + "…"


class Recorder:
    """Each scenario and step as it ran."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.by_node: dict[str, ScenarioResult] = {}
        self._step: dict[str, tuple[int, float, int]] = {}   # nodeid -> (step index, started, evidence count)
        self._started: dict[str, float] = {}

    def pytest_collection_finish(self, session: Any) -> None:
        for item in session.items:     # what was selected, in the order it runs
            found = _scenario_of(item)
            if found is not None:
                rec = _record(item.nodeid, *found)
                self.by_node[item.nodeid] = rec
                self.run.scenarios.append(rec)

    def _rec(self, request: Any) -> ScenarioResult | None:
        return self.by_node.get(request.node.nodeid)

    def pytest_bdd_before_scenario(self, request: Any, feature: Any, scenario: Any) -> None:
        rec = self._rec(request)
        if rec is not None:
            rec.started = now_iso()
            self._started[rec.nodeid] = time.monotonic()

    def _index(self, rec: ScenarioResult, step: Any) -> int:
        for i, st in enumerate(rec.steps):
            if st.line == step.line_number and st.text == step.name and st.status == NOT_RUN:
                return i
        return -1

    def pytest_bdd_before_step(self, request: Any, feature: Any, scenario: Any, step: Any, step_func: Any) -> None:
        rec = self._rec(request)
        if rec is not None:
            self._step[rec.nodeid] = (self._index(rec, step), time.monotonic(), len(evidence_of(request.node)))

    def _finish(self, request: Any, status: str, error: str | None = None) -> None:
        rec = self._rec(request)
        if rec is None or rec.nodeid not in self._step:
            return
        index, started, seen = self._step.pop(rec.nodeid)
        if index < 0:
            return
        st = rec.steps[index]
        st.status, st.duration, st.error = status, time.monotonic() - started, error
        st.evidence = list(evidence_of(request.node)[seen:])

    def pytest_bdd_after_step(self, request: Any, **kw: Any) -> None:
        self._finish(request, PASSED)

    def pytest_bdd_step_error(self, request: Any, exception: BaseException, **kw: Any) -> None:
        self._finish(request, FAILED, _message(exception))

    def pytest_bdd_step_func_lookup_error(self, request: Any, feature: Any, scenario: Any, step: Any,
                                          exception: BaseException) -> None:
        rec = self._rec(request)
        if rec is not None:
            i = self._index(rec, step)
            if i >= 0:
                rec.steps[i].status, rec.steps[i].error = UNDEFINED, _message(exception)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: Any, call: Any) -> Any:
        outcome = yield
        report = outcome.get_result()
        rec = self.by_node.get(item.nodeid)
        if rec is None:
            return
        if report.when == "call" or (report.when == "setup" and not report.passed):
            if rec.nodeid in self._step:          # the step that was running when the scenario stopped
                index, started, seen = self._step.pop(rec.nodeid)
                if index >= 0:
                    st = rec.steps[index]
                    st.duration = time.monotonic() - started
                    st.evidence = list(evidence_of(item)[seen:])
                    st.status = SKIPPED if report.skipped else FAILED
                    if report.failed:
                        st.error = st.error or _longrepr(report)
            if report.skipped:
                rec.status, rec.reason = SKIPPED, _skip_reason(report)
                for st in rec.steps:
                    if st.status == NOT_RUN:
                        st.status = SKIPPED
            elif report.failed:
                rec.status = UNDEFINED if any(st.status == UNDEFINED for st in rec.steps) else FAILED
                failed = next((st for st in rec.steps if st.status in (FAILED, UNDEFINED)), None)
                rec.reason = f"{failed.keyword}{failed.text}：{failed.error}" if failed else _longrepr(report)
            else:
                rec.status = PASSED
            rec.duration = time.monotonic() - self._started.get(rec.nodeid, time.monotonic())


def _skip_reason(report: Any) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
        return reason.removeprefix("Skipped: ")
    return str(longrepr)


def _longrepr(report: Any) -> str:
    text = str(report.longrepr)
    return text if len(text) <= 4000 else "…" + text[-4000:]


__all__ = ["HARNESS", "Recorder", "RemoteRun", "harness"]
