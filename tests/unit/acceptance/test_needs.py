"""What a deployment's profile says a scenario may run on (harness.unmet_by_profile)."""
from __future__ import annotations

from invoice_archive.acceptance import harness as needs
from invoice_archive.acceptance.harness import unmet_by_profile

DEMO = {"trust_store": {"configured": False, "roots": []}, "tax_platform": False, "accounting_system": None,
        "reimbursable_verdicts": ["present_not_verifiable", "unsigned", "valid", "valid_with_warning"],
        "virus_scanner": {"configured": False, "engine": "未配置病毒库"}, "bundle_signing": {"algorithm": "ed25519"}}
STRICT = {**DEMO, "reimbursable_verdicts": ["valid"], "trust_store": {"configured": True, "roots": [
    {"subject": "CN=root", "sha256": "ab" * 32}]}, "tax_platform": True, "accounting_system": "kingdee",
    "accounting_posted_when": "posted", "virus_scanner": {"configured": True, "engine": "ClamAV"}}


def unmet(need, profile, root="cd" * 32):
    return unmet_by_profile(need, profile, run_root_sha256=root)


def test_the_demo_runs_what_needs_no_outside_system():
    assert unmet(needs.synthetic_claimable(), DEMO) is None
    assert unmet(needs.signed_claimable(), DEMO) is None
    assert unmet(needs.signing_key(), DEMO) is None
    assert unmet(needs.vouchers_reported(), DEMO) is None
    assert "未接入税务平台" in unmet(needs.tax_platform(), DEMO)
    assert "信任库不含" in unmet(needs.trusts_run_root(), DEMO)
    assert "签名无法验证" in unmet(needs.only_valid_reimbursable(), DEMO)   # said in words, not codes
    assert "病毒检测无法执行" in unmet(needs.virus_scanner(), DEMO)
    assert unmet(needs.no_virus_scanner(), DEMO) is None


def test_a_strict_deployment_runs_the_strict_scenarios():
    assert unmet(needs.only_valid_reimbursable(), STRICT) is None
    assert unmet(needs.trusts_run_root(), STRICT, root="ab" * 32) is None
    assert unmet(needs.trusts_run_root(), STRICT) is not None
    assert unmet(needs.synthetic_claimable(), STRICT) is None          # the tax platform says 正常
    assert "接入了税务平台" in unmet(needs.no_tax_platform(), STRICT)
    assert unmet(needs.accounting("kingdee", "posted"), STRICT) is None
    assert "过账" in unmet(needs.accounting("kingdee", "saved"), STRICT)
    assert "金蝶" in unmet(needs.accounting("u8", "posted"), STRICT)
    assert "可以执行" in unmet(needs.no_virus_scanner(), STRICT)


def test_the_world_around_a_remote_deployment_is_never_available():
    for need in (needs.scripted_tax_platform(), needs.scripted_accounting(), needs.store_access(),
                 needs.local_processes()):
        assert "无法操控" in unmet(need, STRICT)
