"""The typed sections: defaults, environment overrides, and bad values failing at
parse (start-up) with the setting's name and its variable."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from invoice_archive.ports.taxplatform import PostingPurpose
from invoice_archive.settings import ENVIRON, Settings, SettingsError, load

ROOT = Path(__file__).resolve().parents[3]


def test_defaults():
    s = load({"here": "/srv/ia"}, environ={})
    assert isinstance(s, Settings)
    assert s.database.url == "sqlite:////srv/ia/var/invoice-archive.sqlite"
    assert s.archive.store_url == "file:///srv/ia/var/archive-store"
    assert s.archive.class_scheme == "PZ·{year}·{retention}"
    assert s.archive.retention_years("voucher") == 30 and s.archive.retention_years("original_voucher") == 30
    assert s.archive.retention_years("monthly_report") == 10 and s.archive.retention_years("annual_report") is None
    assert s.archive.s3.access_key_id is None and s.archive.s3.endpoint is None
    assert (s.archive.clamav.database, s.archive.clamav.executable, s.archive.clamav.daemon,
            s.archive.clamav.timeout) == (None, None, False, 600.0)
    assert s.accounting.backend == "" and s.accounting.source_name == "generic_json"
    assert s.accounting.voucher_report_parser.endswith("generic_json:parse_voucher_report")
    assert s.posting.mapping is None                     # no accounts named, no backend that needs them
    assert s.verification.trust_store is None and s.verification.reimbursable_verdicts == {"valid"}
    assert s.verification.reimbursement.allowed_verdicts == {"valid"}
    assert s.verification.reimbursement.unsigned_requires_tax_check is True
    assert s.intake.max_upload_bytes == 20 * 1024 * 1024
    assert (s.bundle.signing_algorithm, s.bundle.signing_key, s.bundle.signing_key_generate) == ("ed25519", None, False)
    assert (s.taxplatform.backend, s.taxplatform.url, s.taxplatform.max_age_days) == ("", "", 365)
    assert s.taxplatform.posting_purpose is PostingPurpose.POSTED_EIT_DEDUCTIBLE
    assert s.rules.categories is None
    assert (s.worker.lease_seconds, s.worker.backoff_base_seconds, s.worker.backoff_max_seconds,
            s.worker.max_attempts) == (300.0, 5.0, 3600.0, 20)


def test_an_empty_setting_takes_its_default():
    s = load({"archive.class_scheme": "", "worker.max_attempts": " ", "taxplatform.max_age_days": "",
              "bundle.signing_algorithm": "", "verification.trust_store": ""}, environ={})
    assert s.archive.class_scheme == "PZ·{year}·{retention}" and s.worker.max_attempts == 20
    assert s.taxplatform.max_age_days == 365 and s.bundle.signing_algorithm == "ed25519"
    assert s.verification.trust_store is None
    # the one exception, as before: no verdict is claimable without the tax platform's check
    assert load({"verification.reimbursable_verdicts": ""}, environ={}).verification.reimbursable_verdicts == set()


def test_ini_values_are_typed():
    s = load({
        "sqlalchemy.url": "postgresql://ia@db/ia", "archive.store_url": "s3://bucket/p?endpoint=http://x",
        "archive.class_scheme": "KJ·{year}·{retention}", "archive.retention.voucher": "永久",
        "archive.retention.bank_statement": "15", "archive.s3.region": "cn-north-1",
        "archive.clamav_daemon": "yes", "archive.clamav_timeout": "30",
        "accounting.backend": "pkg.mod:Adapter", "accounting.url": "http://erp", "accounting.token": "t",
        "posting.account.expense.default": "6602", "posting.account.expense.travel": "660201",
        "posting.account.input_vat": "22210101", "posting.account.credit": "2241", "posting.voucher_word": "转",
        "verification.reimbursable_verdicts": "valid, unsigned", "verification.unsigned_requires_tax_check": "off",
        "intake.max_upload_bytes": "1000", "bundle.signing_algorithm": "SM2-SM3", "bundle.signing_key": "/k.pem",
        "bundle.signing_key_generate": "true", "taxplatform.backend": "pkg.tax:Platform",
        "taxplatform.posting_purpose": "posted_iit_deductible", "taxplatform.max_age_days": "1825",
        "taxplatform.read_timeout": "4", "rules.category.travel.kinds": "railway_ticket",
        "rules.category.travel.max_total": "5000.00", "worker.lease_seconds": "60", "worker.max_attempts": "3",
        "pyramid.reload_templates": "false",
    }, environ={})
    assert s.database.url == "postgresql+psycopg://ia@db/ia"
    assert s.archive.retention_years("voucher") is None and s.archive.retention_years("bank_statement") == 15
    assert s.archive.class_scheme == "KJ·{year}·{retention}" and s.archive.s3.region == "cn-north-1"
    assert s.archive.clamav.daemon is True and s.archive.clamav.timeout == 30.0
    # an adapter gets its own namespace, nothing else
    assert {"accounting.url": "http://erp", "accounting.token": "t"}.items() <= s.accounting.options.items()
    assert all(key.startswith("accounting.") for key in s.accounting.options)
    assert "taxplatform.read_timeout" in s.taxplatform.options and "accounting.url" not in s.taxplatform.options
    mapping = s.posting.mapping
    assert mapping is not None and mapping.voucher_word == "转" and mapping.book == "001"
    assert mapping.expense_account("travel") == "660201" and mapping.expense_account("office") == "6602"
    assert s.verification.reimbursable_verdicts == {"valid", "unsigned"}
    assert s.verification.reimbursement.unsigned_requires_tax_check is False
    assert s.intake.max_upload_bytes == 1000
    assert s.bundle.signing_algorithm == "sm2-sm3" and s.bundle.signing_key == Path("/k.pem")
    assert s.bundle.signing_key_generate is True
    assert s.taxplatform.posting_purpose is PostingPurpose.POSTED_IIT_DEDUCTIBLE and s.taxplatform.max_age_days == 1825
    assert s.rules.categories is not None and set(s.rules.categories.categories) == {"travel"}
    assert s.worker.lease_seconds == 60.0 and s.worker.max_attempts == 3


def test_secrets_stay_out_of_the_repr():
    s = load({"archive.s3.secret_access_key": "s3-secret", "accounting.token": "erp-secret",
              "taxplatform.token": "tax-secret"}, environ={})
    assert not {"s3-secret", "erp-secret", "tax-secret"} & set(re.findall(r"[\w-]+", repr(s)))


def test_the_environment_overrides_every_section():
    ini = {"sqlalchemy.url": "sqlite:///ini.sqlite", "intake.max_upload_bytes": "1000",
           "archive.clamav_database": "/ini/clamav", "taxplatform.url": "http://ini"}
    env = {"DATABASE_URL": "postgres://u@h/db", "ARCHIVE_STORE_URL": "s3://b/p", "ACCOUNTING_BACKEND": "a.b:C",
           "VOUCHER_REPORT_PARSER": "a.b:parse", "TRUST_STORE": "/etc/ia/trust", "REIMBURSABLE_VERDICTS": "unsigned",
           "MAX_UPLOAD_BYTES": "2048", "BUNDLE_SIGNING_ALGORITHM": "sm2-sm3", "BUNDLE_SIGNING_KEY": "/run/key.pem",
           "TAXPLATFORM_BACKEND": "t.u:V", "TAXPLATFORM_URL": "http://env", "CLAMAV_DATABASE": "/env/clamav",
           "ARCHIVE_S3_ACCESS_KEY_ID": "id", "ARCHIVE_S3_SECRET_ACCESS_KEY": "secret",
           "ACCOUNTING_POSTED_WHEN": "audited", "DEPLOYMENT_PROFILE": "试点验收",
           "BUNDLE_CERTIFICATE": "/run/cert.pem"}
    assert set(ENVIRON.values()) <= set(env)             # every documented variable is exercised
    # an accounting backend needs a complete account mapping
    ini.update({"posting.account.expense.default": "6602", "posting.account.input_vat": "2221",
                "posting.account.credit": "2241"})
    s = load(ini, env)
    assert s.database.url == "postgresql+psycopg://u@h/db"
    assert s.archive.store_url == "s3://b/p" and s.archive.clamav.database == "/env/clamav"
    assert s.archive.s3.access_key_id == "id" and s.archive.s3.secret_access_key == "secret"
    assert s.accounting.backend == "a.b:C" and s.accounting.voucher_report_parser == "a.b:parse"
    assert s.accounting.options["accounting.backend"] == "a.b:C"
    assert s.accounting.posted_when == "audited"
    assert s.verification.trust_store == Path("/etc/ia/trust")
    assert s.verification.reimbursable_verdicts == {"unsigned"}
    assert s.intake.max_upload_bytes == 2048
    assert s.bundle.signing_algorithm == "sm2-sm3" and s.bundle.signing_key == Path("/run/key.pem")
    assert s.bundle.certificate == Path("/run/cert.pem")
    assert s.taxplatform.backend == "t.u:V" and s.taxplatform.url == "http://env"
    assert s.taxplatform.options["taxplatform.url"] == "http://env"   # the adapter sees the override too
    assert s.deployment.profile == "试点验收"


BAD = [
    ({"deployment.profile": "a\nb"}, "deployment.profile / DEPLOYMENT_PROFILE: 'a\\nb': a short name"),
    ({"sqlalchemy.url": "not a url"}, "sqlalchemy.url / DATABASE_URL: not a database URL"),
    ({"archive.store_url": "ftp://host/x"}, "archive.store_url / ARCHIVE_STORE_URL: must be file:// or s3://"),
    ({"intake.max_upload_bytes": "lots"}, "intake.max_upload_bytes / MAX_UPLOAD_BYTES: 'lots' is not a whole number"),
    ({"intake.max_upload_bytes": "0"}, "intake.max_upload_bytes / MAX_UPLOAD_BYTES: 0 is less than 1"),
    ({"verification.reimbursable_verdicts": "valid vaild"},
     "verification.reimbursable_verdicts / REIMBURSABLE_VERDICTS: unknown verdict(s) vaild"),
    ({"verification.reimbursable_verdicts": "valid tampered"},
     "verification.reimbursable_verdicts / REIMBURSABLE_VERDICTS: tampered can never be reimbursed"),
    ({"verification.allowed_verdicts": "valid invalid"}, "verification.allowed_verdicts: ['invalid'] can never"),
    ({"verification.unsigned_requires_tax_check": "perhaps"},
     "verification.unsigned_requires_tax_check: 'perhaps' is not true or false"),
    ({"bundle.signing_algorithm": "rsa"}, "bundle.signing_algorithm / BUNDLE_SIGNING_ALGORITHM: 'rsa'"),
    ({"bundle.signing_key_generate": "sometimes"}, "bundle.signing_key_generate: 'sometimes' is not true or false"),
    ({"archive.clamav_daemon": "2"}, "archive.clamav_daemon: '2' is not true or false"),
    ({"archive.clamav_timeout": "-1"}, "archive.clamav_timeout: '-1' must be a positive number of seconds"),
    ({"archive.retention.voucher": "thirty"}, "archive.retention.voucher: 'thirty' is not a whole number: give a number"),
    ({"archive.retention.vouchers": "30"}, "archive.retention.vouchers: unknown record category 'vouchers'"),
    ({"archive.retention.voucher": "1"}, "archive.retention.voucher: 1 years is shorter than the 30 years"),
    ({"archive.class_scheme": "pz-{year}"}, "archive.class_scheme: 'pz-{year}'"),
    ({"archive.class_scheme": "PZ·{decade}"}, "archive.class_scheme: 'PZ·{decade}'"),
    ({"taxplatform.posting_purpose": "revoke"}, "taxplatform.posting_purpose: 'revoke' is not a posting purpose"),
    ({"taxplatform.max_age_days": "a year"}, "taxplatform.max_age_days: 'a year' is not a whole number"),
    ({"worker.max_attempts": "0"}, "worker.max_attempts: 0 is less than 1"),
    ({"accounting.posted_when": "booked"},
     "accounting.posted_when / ACCOUNTING_POSTED_WHEN: 'booked' is not a voucher state; one of saved, audited, posted"),
    ({"worker.confirm_interval_seconds": "-1"}, "worker.confirm_interval_seconds: '-1' must be a non-negative number"),
    ({"worker.lease_seconds": "0"}, "worker.lease_seconds: '0' must be a positive number of seconds"),
    ({"worker.backoff_base_seconds": "nan"}, "worker.backoff_base_seconds: 'nan' must be a non-negative number"),
    ({"rules.category.travel.kinds": "railway_ticket", "rules.category.travel.max_total": "lots"},
     "rules.category.travel.max_total: "),
    ({"rules.category.travel.colour": "red"}, "rules.category.travel.colour: unknown attribute 'colour'"),
    ({"accounting.backend": "pkg.mod:Adapter", "posting.account.expense.default": "6602",
      "posting.account.input_vat": "2221"}, "posting.account.credit: must be set (accounting.backend is set)"),
    ({"accounting.backend": "pkg.mod:Adapter"}, "posting.account.expense.default: must be set (默认费用科目) (accounting.backend is set)"),
]


@pytest.mark.parametrize("settings, message", BAD, ids=[next(iter(s)) for s, _ in BAD])
def test_a_bad_value_fails_the_parse_naming_the_setting(settings, message):
    with pytest.raises(SettingsError) as info:
        load(settings, environ={})
    assert str(info.value).startswith(message.split(":")[0])
    assert message in str(info.value)


def test_a_bad_value_from_the_environment_names_the_variable():
    with pytest.raises(SettingsError) as info:
        load({"intake.max_upload_bytes": "1000"}, {"MAX_UPLOAD_BYTES": "20MB"})
    assert (info.value.setting, info.value.variable) == ("intake.max_upload_bytes", "MAX_UPLOAD_BYTES")
    assert str(info.value) == "intake.max_upload_bytes / MAX_UPLOAD_BYTES: '20MB' is not a whole number"


def test_a_voucher_counts_as_posted_once_posted_over_there_unless_configured():
    from invoice_archive.ports.accounting import RemoteStatus

    assert load({}, environ={}).accounting.posted_when is RemoteStatus.POSTED
    assert load({"accounting.posted_when": " Saved "}, environ={}).accounting.posted_when is RemoteStatus.SAVED
    assert load({}, environ={}).worker.confirm_interval_seconds == 300.0


def test_an_incomplete_account_mapping_is_fine_without_a_backend():
    assert load({"posting.account.expense.default": "6602"}, environ={}).posting.mapping is None


# -- the application: parsed once, at start-up ---------------------------------------

def _app_settings(tmp_path, **extra):
    return {"sqlalchemy.url": f"sqlite:///{tmp_path}/db.sqlite", "archive.store_url": (tmp_path / "store").as_uri(),
            "here": str(tmp_path), **extra}


def test_the_app_does_not_start_with_a_bad_setting(tmp_path):
    from invoice_archive.config import configure

    with pytest.raises(SettingsError, match="intake.max_upload_bytes / MAX_UPLOAD_BYTES"):
        configure(_app_settings(tmp_path, **{"intake.max_upload_bytes": "big"}))


def test_the_trust_store_is_loaded_at_start_up(tmp_path):
    from invoice_archive.config import configure

    with pytest.raises(SettingsError, match="verification.trust_store / TRUST_STORE: trust store directory not found"):
        configure(_app_settings(tmp_path, **{"verification.trust_store": str(tmp_path / "missing")}))
    (tmp_path / "trust").mkdir()
    registry = configure(_app_settings(tmp_path, **{"verification.trust_store": str(tmp_path / "trust")})).registry
    assert registry["intake.verifier"].trust_store.source == str(tmp_path / "trust")


def test_the_registry_keeps_the_settings_and_what_is_built_from_them(tmp_path):
    from invoice_archive.archive.virus import ClamAVScanner
    from invoice_archive.config import configure

    registry = configure(_app_settings(tmp_path, **{"archive.clamav_daemon": "true"})).registry
    assert isinstance(registry.app_settings, Settings)
    assert registry.app_settings.intake.max_upload_bytes == 20 * 1024 * 1024
    scanner = registry["archive.scanner"]
    assert isinstance(scanner, ClamAVScanner) and scanner.executable == "clamdscan"
    assert registry["intake.verifier"].trust_store is None
    assert "invoice_archive.settings" not in registry.settings   # one way: registry.app_settings


RAW_READ = re.compile(r"\bsettings\.get\(|\bsettings\[|registry\.settings\b|\braw\.get\(")


def test_no_module_but_settings_reads_the_raw_settings():
    offenders = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
                 for path in sorted((ROOT / "invoice_archive").rglob("*.py")) if path.name != "settings.py"
                 for n, line in enumerate(path.read_text("utf-8").splitlines(), 1) if RAW_READ.search(line)]
    assert offenders == []


# -- retention: 会计档案管理办法 附表1 is a minimum (docs/retention.md) ------------------------

SHORTER = [
    ("voucher", "1", "1 years is shorter than the 30 years 会计档案管理办法 附表1 (row 2) requires for 记账凭证"),
    ("voucher", "29", "29 years is shorter than the 30 years"),
    ("original_voucher", "10", "(row 1) requires for 原始凭证"),
    ("ledger", "15", "(row 3) requires for 总账、明细账、日记账"),
    ("fixed_asset_card", "4", "4 years is shorter than the 5 years 会计档案管理办法 附表1 (row 6) requires for "
                              "固定资产卡片 (报废清理后 5 年)"),
    ("monthly_report", "3", "(row 8) requires for 月度、季度、半年度财务会计报告"),
    ("annual_report", "100", "100 years is shorter than 永久 (permanent), which 会计档案管理办法 附表1 (row 9)"),
    ("bank_reconciliation", "5", "(row 10) requires for 银行存款余额调节表"),
    ("bank_statement", "9", "(row 11) requires for 银行对账单"),
    ("tax_return", "5", "(row 12) requires for 纳税申报表"),
    ("transfer_list", "10", "(row 13) requires for 会计档案移交清册"),
    ("custody_list", "30", "(row 14)"),
    ("destruction_list", "30", "(row 15)"),
    ("appraisal_opinion", "30", "(row 16)"),
]


@pytest.mark.parametrize("category, years, message", SHORTER, ids=[f"{c}={y}" for c, y, _ in SHORTER])
def test_a_retention_shorter_than_the_table_is_refused_at_start_up(category, years, message):
    with pytest.raises(SettingsError) as info:
        load({f"archive.retention.{category}": years}, environ={})
    assert str(info.value).startswith(f"archive.retention.{category}: ")
    assert message in str(info.value)
    assert "never shortened" in str(info.value) or "永久" in str(info.value)


@pytest.mark.parametrize("category, value, years", [
    ("voucher", "30", 30), ("voucher", "45", 45), ("voucher", "永久", None), ("annual_report", "permanent", None),
    ("fixed_asset_card", "5", 5), ("tax_return", "12", 12), ("destruction_list", "Y", None),
])
def test_a_retention_as_long_or_longer_is_accepted(category, value, years):
    s = load({f"archive.retention.{category}": value}, environ={})
    assert s.archive.retention_years(category) == years


def test_every_category_of_the_table_has_its_minimum_by_default():
    from invoice_archive.archive.retention import CATEGORIES

    s = load({}, environ={})
    assert [c.row for c in CATEGORIES.values()] == [1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    for key, category in CATEGORIES.items():
        assert s.archive.retention_years(key) == category.minimum


def test_the_app_does_not_start_with_a_shortened_retention(tmp_path):
    from invoice_archive.config import configure

    with pytest.raises(SettingsError, match=r"archive.retention.voucher: 1 years is shorter than the 30 years"):
        configure({"sqlalchemy.url": f"sqlite:///{tmp_path}/x.sqlite", "archive.store_url": tmp_path.as_uri(),
                   "archive.retention.voucher": "1"})
