"""Environment variables override the ini file, one documented variable per setting."""
from __future__ import annotations

from pathlib import Path

import pytest

from invoice_archive.settings import ENVIRON, merge_environ

README = Path(__file__).resolve().parents[3] / "README.md"


def test_environment_overrides_the_ini():
    ini = {"bundle.signing_key": "/etc/ia/ini-key.pem", "sqlalchemy.url": "sqlite:///a.sqlite"}
    merged = merge_environ(ini, {"BUNDLE_SIGNING_KEY": "/run/secrets/bundle.pem", "TAXPLATFORM_URL": "http://tax"})
    assert merged["bundle.signing_key"] == "/run/secrets/bundle.pem"
    assert merged["taxplatform.url"] == "http://tax"
    assert merged["sqlalchemy.url"] == "sqlite:///a.sqlite"


def test_an_empty_variable_does_not_blank_a_setting():
    assert merge_environ({"bundle.signing_key": "k.pem"}, {"BUNDLE_SIGNING_KEY": ""})["bundle.signing_key"] == "k.pem"


@pytest.mark.parametrize("setting, variable", sorted(ENVIRON.items()))
def test_every_variable_is_in_the_readme(setting, variable):
    text = README.read_text("utf-8")
    assert f"`{variable}`" in text and f"`{setting}`" in text
