"""``invoice-archive acceptance --url URL --token-file tokens.txt --out report/``

Runs the zh-CN features (features/, shipped as ``invoice_archive.features``) against a
deployment through its HTTP API only, with the run's own synthetic data, and writes
the report (docs/acceptance.md): report.html (Chinese), cucumber.json, junit.xml,
results.json, SHA256SUMS and signature.json (the deployment's bundle key over the
SHA-256 of SHA256SUMS, asked for with the auditor's token and written to its audit
log). Exit status: 0 every scenario that ran passed; 1 one failed; 2 the run could
not start (no deployment at the URL, an unreadable token file, a refused token).
"""
from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from invoice_archive.acceptance.cast import CHARACTERS, Cast, TokenFileError, read_token_file
from invoice_archive.acceptance.client import HttpClient
from invoice_archive.acceptance.data import Factory
from invoice_archive.acceptance.harness import RemoteHarness
from invoice_archive.acceptance.report import SIGNATURE, STATUS_WORDS, Run, now_iso, write
from invoice_archive.acceptance.words import ROLE_LABELS

#: the role each character's token must have (approver2 is a second approver)
EXPECTED_ROLE = {who: ("approver" if role == "approver2" else role) for who, role in CHARACTERS.items()}


class AcceptanceError(Exception):
    """The run cannot start; the message says what to fix."""


def features_dir() -> Path:
    """The features the package ships (a checkout: the top-level features/ folder)."""
    from importlib.resources import files

    try:
        root = files("invoice_archive.features")
        if isinstance(root, Path) and any(root.glob("*/*.feature")):
            return root
    except ModuleNotFoundError:
        pass
    checkout = Path(__file__).resolve().parents[2] / "features"
    if any(checkout.glob("*/*.feature")):
        return checkout
    raise AcceptanceError("找不到验收功能文件（invoice_archive.features）：安装包不完整")


def tool_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("invoice-archive")
    except PackageNotFoundError:   # pragma: no cover
        return "unknown"


@dataclass
class Options:
    url: str
    token_file: Path
    out: Path
    wait: float = 120.0
    verify_tls: bool = True
    only: tuple[str, ...] = ()
    start_timeout: float = 60.0
    pki_dir: Path | None = None
    title: str = "电子发票电子化报销、入账、归档 验收报告"


def preflight(options: Options) -> tuple[RemoteHarness, Run]:
    """Reach the deployment, check every token, read the profile."""
    try:
        cast = Cast(read_token_file(options.token_file))
    except TokenFileError as exc:
        raise AcceptanceError(str(exc)) from None
    client = HttpClient(options.url, verify=options.verify_tls)
    deadline = time.monotonic() + options.start_timeout
    while True:   # a deployment that is still starting gets a moment (make acceptance, CI)
        try:
            health = client.request("GET", "/api/v1/health")
            break
        except httpx.TransportError as exc:
            if time.monotonic() > deadline:
                raise AcceptanceError(f"无法连接 {options.url}：{exc}") from None
            time.sleep(0.5)
    if health.status != 200 or health.content_type != "application/json":
        raise AcceptanceError(f"{options.url}/api/v1/health 答复 {health.status}：这不是一个可用的 invoice-archive 部署")
    people: dict[str, str] = {}
    for who, role in EXPECTED_ROLE.items():
        token = cast.token(who)
        if token is None:
            continue
        me = client.request("GET", "/api/v1/me", token=token)
        if me.status != 200:
            raise AcceptanceError(f"「{who}」的令牌被部署拒绝（{me.status}）：请检查令牌文件")
        got = me.json
        if got["role"] != role:
            raise AcceptanceError(f"「{who}」应持{ROLE_LABELS.get(role, role)}令牌，令牌文件给的是"
                                  f"{ROLE_LABELS.get(got['role'], got['role'])}（{got['name']}）的令牌")
        people[who] = f"{got['name']}（{ROLE_LABELS.get(role, role)}）"
    if cast.token("王审计") is None:
        raise AcceptanceError("令牌文件须包含审计人员的令牌（auditor=…）：用它读取部署的配置并为报告签名")
    harness = RemoteHarness(client, cast, Factory(pki=run_pki(options.pki_dir)), wait_seconds=options.wait)
    run = Run(started=now_iso(), url=options.url, run_number=harness.factory.run, deployment=dict(harness.profile()),
              health=health.json, people=people, tool_version=tool_version())
    return harness, run


def run_pki(directory: Path | None) -> Any:
    """The PKI kept in ``directory`` (made there on first use), or None: one made for the run.
    Kept, its root (``DIR/root.pem``) can be put in a test deployment's trust store, and
    the scenarios that need the run's root trusted then run there too."""
    from invoice_archive.synth import pki as synth_pki

    if directory is None:
        return None
    if (directory / synth_pki.PKI_FILE).is_file():
        return synth_pki.load_pki(directory)
    made = synth_pki.build_pki()
    synth_pki.save_pki(made, directory)
    print(f"测试 PKI 已保存于 {directory}：将 {directory / 'root.pem'} 与 {directory / 'intermediate.cer'} "
          "放入被测（测试）部署的信任库，下次运行可验证受信任的签章", flush=True)
    return made


def run_scenarios(harness: RemoteHarness, run: Run, options: Options) -> int:
    import pytest

    from invoice_archive.acceptance.plugin import Recorder, RemoteRun

    spec = importlib.util.find_spec("invoice_archive.acceptance.scenarios")
    assert spec is not None and spec.origin
    with tempfile.TemporaryDirectory(prefix="invoice-archive-acceptance-") as tmp:
        ini = Path(tmp) / "pytest.ini"
        ini.write_text(f"[pytest]\nbdd_features_base_dir = {features_dir()}\n", encoding="utf-8")
        args = [spec.origin, "-c", str(ini), "--rootdir", tmp, "-p", "no:cacheprovider",
                "-p", "invoice_archive.acceptance.steps", "-p", "invoice_archive.acceptance.plugin",
                "-p", "no:warnings", "-q", "--no-header", "-rN", "--tb=short"]
        return int(pytest.main(args, plugins=[RemoteRun(harness, list(options.only)), Recorder(run)]))


def sign(harness: RemoteHarness, digest: str, options: Options) -> dict[str, Any] | None:
    resp = harness.client.request("POST", "/api/v1/acceptance/signatures", token=harness.cast.token("王审计"),
                                  json={"sha256": digest, "title": options.title})
    if resp.status != 201:
        err = resp.json.get("error", {}) if resp.content_type == "application/json" else {}
        print(f"报告未签名：部署答复 {resp.status} {err.get('code', '')} {err.get('message', '')}", file=sys.stderr)
        return None
    return resp.json


def run(options: Options) -> int:
    import json

    try:
        harness, record = preflight(options)
    except AcceptanceError as exc:
        print(f"验收无法开始：{exc}", file=sys.stderr)
        return 2
    print(f"被测部署 {options.url}：版本 {record.deployment.get('version')}，配置 {record.deployment.get('profile')}；"
          f"运行编号 {record.run_number}", flush=True)
    pytest_exit = run_scenarios(harness, record, options)
    record.finished = now_iso()
    if not record.scenarios:
        print(f"没有运行任何场景（pytest 退出码 {pytest_exit}）", file=sys.stderr)
        return 2
    digest = write(record, options.out)
    signed = sign(harness, digest, options)
    if signed is not None:
        (options.out / SIGNATURE).write_text(json.dumps(signed, ensure_ascii=False, indent=2), encoding="utf-8")
    counts = record.counts()
    print(f"\n{len(record.scenarios)} 个场景：" + "，".join(f"{STATUS_WORDS[k]} {v}" for k, v in counts.items() if v))
    for s in record.scenarios:
        if s.status != "passed":
            print(f"  [{STATUS_WORDS.get(s.status, s.status)}] {s.feature}：{s.name}"
                  + (f"\n      {s.reason.splitlines()[0][:300]}" if s.reason else ""))
    print(f"报告：{options.out / 'report.html'}（SHA256SUMS 的 SHA-256 {digest}"
          + ("，已由部署签名" if signed else "，未签名") + "）")
    return 0 if record.ok else 1


__all__ = ["AcceptanceError", "Options", "features_dir", "preflight", "run"]
