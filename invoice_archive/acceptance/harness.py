"""The deployment under test and the world around it, as the steps see them.

A scenario states what it needs of the deployment in a Given step ("信任库中配置了
验收测试根证书", "单位使用记账系统「金蝶」" ...): :meth:`Harness.require`. Two
kinds of needs:

* the deployment's **configuration** (a tax platform, an accounting system, a
  virus scanner, the trust store, the reimbursement policy): a remote run reads
  it from ``GET /api/v1/deployment`` and skips the scenario, saying why, when the
  deployment is not so configured; the in-process run (``make test``) configures
  its app as the scenario needs;
* the **world around** the deployment that only a test harness controls: the
  answers of a (fake) tax platform, faults of a (fake) accounting system, a byte
  changed on the storage medium, a process killed with ``kill -9``. A remote run
  has none of these, and says so.

The worker (``invoice-archive worker``) is part of the deployment: in-process
the harness runs one pass of it; against a URL the deployment's own worker does
the work and :meth:`Harness.settle` waits for its result.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

import pytest

from invoice_archive.acceptance.cast import Cast
from invoice_archive.acceptance.client import Client
from invoice_archive.acceptance.data import Buyer, Factory


@dataclass(frozen=True)
class Need:
    code: str
    text: str                 # what the report says the scenario needed (Chinese)
    value: str | None = None
    world: bool = False       # True: the world around the deployment, not its configuration


def trusts_run_root() -> Need:
    return Need("trusts_run_root", "部署的信任库包含本次验收的测试根证书")


def trust_store() -> Need:
    return Need("trust_store", "部署配置了信任库（verification.trust_store）")


def only_valid_reimbursable() -> Need:
    return Need("only_valid", "报销政策只允许签名有效的发票直接报销（verification.reimbursable_verdicts = valid）")


def synthetic_claimable() -> Need:
    return Need("synthetic_claimable", "合成的数电票可以报销：报销政策接受「签名无法验证」，或部署接入了税务平台")


def signed_claimable() -> Need:
    return Need("signed_claimable", "合成的签章发票可以报销：信任库含本次验收的测试根证书，或报销政策接受"
                                    "「签名有效（有提示）」，或部署接入了税务平台")


def no_tax_platform() -> Need:
    return Need("no_tax_platform", "部署未接入税务平台（未设置 taxplatform.backend）")


def tax_platform() -> Need:
    return Need("tax_platform", "部署接入了税务平台（taxplatform.backend），且入账程序（invoice-archive worker）在运行")


def scripted_tax_platform() -> Need:
    return Need("scripted_tax_platform", "税务平台的答复由验收程序编排（模拟税务平台）", world=True)


def vouchers_reported() -> Need:
    return Need("vouchers_reported", "凭证由记账系统通过接口报告（未设置 accounting.backend）")


def accounting(system: str, posted_when: str = "saved") -> Need:
    from invoice_archive.acceptance.words import POSTED_WHEN_LABELS, SYSTEM_LABELS

    return Need("accounting", f"部署接入记账系统「{SYSTEM_LABELS.get(system, system)}」，凭证"
                              f"{POSTED_WHEN_LABELS.get(posted_when, posted_when)}即算入账，且入账程序在运行",
                f"{system}:{posted_when}")


def scripted_accounting() -> Need:
    return Need("scripted_accounting", "记账系统由验收程序操控（模拟记账系统：注入故障、代会计审核过账）", world=True)


def virus_scanner() -> Need:
    return Need("virus_scanner", "部署的病毒检测可以执行（ClamAV，archive.clamav_database）")


def no_virus_scanner() -> Need:
    return Need("no_virus_scanner", "部署的病毒检测无法执行（未安装 ClamAV 或病毒库不可用）")


def signing_key() -> Need:
    return Need("signing_key", "部署配置了签名密钥（bundle.signing_key）")


def store_access() -> Need:
    return Need("store_access", "验收程序可以直接改动档案存储（模拟存储介质上的篡改）", world=True)


def local_processes() -> Need:
    return Need("local_processes", "验收程序可以在部署所在主机上运行命令行并强行终止其进程（kill -9）", world=True)


def unmet_by_profile(need: Need, profile: Mapping[str, Any], *, run_root_sha256: str) -> str | None:
    """Why a deployment with this profile cannot run a scenario with this need (None: it can)."""
    trust = profile.get("trust_store") or {}
    verdicts = set(profile.get("reimbursable_verdicts") or ())
    has_platform = bool(profile.get("tax_platform"))
    system = profile.get("accounting_system")
    if need.world:
        return "针对远程部署运行时，验收程序无法操控部署之外的系统"
    if need.code == "trusts_run_root":
        roots = {r.get("sha256") for r in trust.get("roots") or ()}
        return None if run_root_sha256 in roots else "被测部署的信任库不含本次验收的测试根证书"
    if need.code == "trust_store":
        return None if trust.get("configured") else "被测部署未配置信任库"
    if need.code == "only_valid":
        from invoice_archive.acceptance.words import VERDICT_LABELS, label

        shown = "、".join(label(VERDICT_LABELS, v) for v in sorted(verdicts))
        return None if verdicts == {"valid"} else f"被测部署可直接报销的验签结论为：{shown}"
    if need.code == "synthetic_claimable":
        return None if has_platform or "present_not_verifiable" in verdicts else \
            "被测部署既未接入税务平台，报销政策也不接受「签名无法验证」的发票"
    if need.code == "signed_claimable":
        roots = {r.get("sha256") for r in trust.get("roots") or ()}
        return None if has_platform or run_root_sha256 in roots or "valid_with_warning" in verdicts else \
            "被测部署既未接入税务平台，信任库也不含本次验收的测试根证书，报销政策也不接受「签名有效（有提示）」"
    if need.code == "no_tax_platform":
        return "被测部署接入了税务平台" if has_platform else None
    if need.code == "tax_platform":
        return None if has_platform else "被测部署未接入税务平台"
    if need.code == "vouchers_reported":
        return f"被测部署接入了记账系统（{system}），凭证由入账程序送入" if system else None
    if need.code == "accounting":
        wanted, _, when = (need.value or "").partition(":")
        if system != wanted:
            from invoice_archive.acceptance.words import SYSTEM_LABELS, label

            return f"被测部署的记账系统是「{label(SYSTEM_LABELS, system)}」" if system else "被测部署未接入记账系统"
        posted_when = profile.get("accounting_posted_when")
        from invoice_archive.acceptance.words import POSTED_WHEN_LABELS, label

        return None if posted_when == when else \
            f"被测部署的凭证在记账系统中{label(POSTED_WHEN_LABELS, posted_when)}才算入账"
    if need.code == "virus_scanner":
        scanner = profile.get("virus_scanner") or {}
        return None if scanner.get("configured") else f"被测部署的病毒检测无法执行（{scanner.get('engine', '')}）"
    if need.code == "no_virus_scanner":
        scanner = profile.get("virus_scanner") or {}
        return f"被测部署的病毒检测可以执行（{scanner.get('engine', '')}）" if scanner.get("configured") else None
    if need.code == "signing_key":
        return None if profile.get("bundle_signing") else "被测部署未配置签名密钥"
    return f"未知的需求 {need.code}"


class Harness(Protocol):
    client: Client
    cast: Cast
    factory: Factory

    def require(self, need: Need) -> None:
        """Skip the scenario (saying why) when the deployment or the harness cannot meet ``need``."""

    def profile(self) -> Mapping[str, Any]:
        """GET /api/v1/deployment, as the evaluator's token reads it."""

    def buyer(self) -> Buyer:
        """The organisation under test (GET /api/v1/me)."""

    def settle(self, done: Callable[[], bool], what: str, *, timeout: float | None = None) -> None:
        """Let the deployment's worker do what is due until ``done()`` (in-process: one pass)."""

    # the world around the deployment (each behind its need)
    @property
    def tax_platform(self) -> Any: ...

    @property
    def accounting(self) -> Any: ...

    def tamper_with_stored_package(self, archival_code: str) -> str: ...

    def fixity_audit(self) -> tuple[int, str]: ...

    def stored_packages(self) -> dict[str, bytes]: ...

    def archive_run_killed(self, fiscal_year: int, period: int, *, after_packages: int) -> dict[str, bytes]: ...


class HarnessBase:
    """What every harness asks the deployment alike: its profile and the organisation."""

    client: Client
    cast: Cast
    factory: Factory

    def _get(self, path: str, who: str) -> Any:
        token = self.cast.token(who)
        if token is None:
            pytest.skip(self.cast.missing(who))
        r = self.client.request("GET", path, token=token)
        if r.status != 200:
            raise AssertionError(f"GET {path}（{who}）返回 {r.status}：{r.text[:300]}")
        return r.json

    def profile(self) -> Mapping[str, Any]:
        return self._get("/api/v1/deployment", "王审计")

    def buyer(self) -> Buyer:
        org = self._get("/api/v1/me", "张经办")["organisation"]
        return Buyer(org["name"], org["tax_id"], org["fonds_code"])

    def run_root_sha256(self) -> str:
        return hashlib.sha256(self.factory.pki.root.cert).hexdigest()


class RemoteHarness(HarnessBase):
    """A deployment at a URL: its configuration from its profile, nothing around it."""

    def __init__(self, client: Client, cast: Cast, factory: Factory, *, wait_seconds: float = 120.0) -> None:
        self.client = client
        self.cast = cast
        self.factory = factory
        self.wait_seconds = wait_seconds
        self._profile: Mapping[str, Any] | None = None
        self._buyer: Buyer | None = None

    def profile(self) -> Mapping[str, Any]:
        if self._profile is None:
            self._profile = super().profile()
        return self._profile

    def buyer(self) -> Buyer:
        if self._buyer is None:
            self._buyer = super().buyer()
        return self._buyer

    def require(self, need: Need) -> None:
        why = unmet_by_profile(need, self.profile(), run_root_sha256=self.run_root_sha256())
        if why is not None:
            pytest.skip(f"本场景需要：{need.text}。{why}。")

    def settle(self, done: Callable[[], bool], what: str, *, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (self.wait_seconds if timeout is None else timeout)
        while not done():
            if time.monotonic() > deadline:
                return    # the Then step says what did not happen, and when
            time.sleep(1.0)

    def _absent(self) -> Any:
        raise AssertionError("针对远程部署运行时，验收程序无法操控部署之外的系统（场景应先声明其需求）")

    @property
    def tax_platform(self) -> Any:
        return self._absent()

    @property
    def accounting(self) -> Any:
        return self._absent()

    def tamper_with_stored_package(self, archival_code: str) -> str:
        return self._absent()

    def fixity_audit(self) -> tuple[int, str]:
        return self._absent()

    def stored_packages(self) -> dict[str, bytes]:
        return self._absent()

    def archive_run_killed(self, fiscal_year: int, period: int, *, after_packages: int) -> dict[str, bytes]:
        return self._absent()


__all__ = ["Harness", "HarnessBase", "Need", "RemoteHarness", "unmet_by_profile"] + [
    name for name in ("accounting", "local_processes", "no_tax_platform", "only_valid_reimbursable",
                      "no_virus_scanner", "scripted_accounting", "scripted_tax_platform", "signed_claimable",
                      "signing_key",
                      "store_access",
                      "synthetic_claimable", "tax_platform", "trust_store", "trusts_run_root",
                      "virus_scanner", "vouchers_reported")]
