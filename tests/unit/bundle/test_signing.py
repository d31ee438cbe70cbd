"""The service's manifest key: Ed25519 and SM2-with-SM3, PEM files, settings."""
from __future__ import annotations

import subprocess
import shutil

import pytest

from invoice_archive.bundle import (ALGORITHMS, SigningKeyError, generate_key, load_signer, new_signer,
                                    signer_from_settings, verify_signature)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_sign_and_verify_round_trip(alg):
    signer = new_signer(alg)
    sig = signer.sign(b"manifest")
    assert verify_signature(signer.public_key_pem(), alg, b"manifest", sig)
    assert not verify_signature(signer.public_key_pem(), alg, b"manifesT", sig)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_generated_key_file_loads_back(alg, tmp_path):
    path = tmp_path / "keys" / "bundle.pem"
    signer = generate_key(alg, path)
    assert (path.stat().st_mode & 0o777) == 0o600
    assert path.with_name("bundle.pem.pub").read_bytes() == signer.public_key_pem()
    loaded = load_signer(path)
    assert loaded.algorithm == alg
    assert loaded.public_key_pem() == signer.public_key_pem()
    assert verify_signature(signer.public_key_pem(), alg, b"x", loaded.sign(b"x"))


def test_sm2_uses_the_default_signer_id():
    import gmssl_pyx

    signer = new_signer("sm2-sm3")
    sig = signer.sign(b"data")
    from invoice_archive.bundle.signing import _load_public

    _, pub = _load_public(signer.public_key_pem())
    assert gmssl_pyx.sm2_verify(pub, b"data", sig, b"1234567812345678")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_sm2_key_file_is_standard_pkcs8(tmp_path):
    path = tmp_path / "sm2.pem"
    generate_key("sm2-sm3", path)
    out = subprocess.run(["openssl", "pkey", "-in", str(path), "-noout", "-text"], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("this openssl build has no SM2")
    assert "SM2" in out.stdout or "sm2" in out.stdout


def test_key_of_the_wrong_algorithm_is_refused():
    ed = new_signer("ed25519")
    sm = new_signer("sm2-sm3")
    with pytest.raises(SigningKeyError):
        verify_signature(ed.public_key_pem(), "sm2-sm3", b"x", sm.sign(b"x"))


def test_settings_choose_the_algorithm_and_refuse_a_missing_key(tmp_path):
    from invoice_archive.settings import SettingsError, load

    def bundle(**settings):
        return load({f"bundle.{k}": v for k, v in settings.items()}, environ={}).bundle

    key = tmp_path / "k.pem"
    with pytest.raises(SigningKeyError):
        signer_from_settings(bundle(signing_algorithm="sm2-sm3", signing_key=str(key)))
    signer = signer_from_settings(bundle(signing_algorithm="sm2-sm3", signing_key=str(key),
                                         signing_key_generate="true"))
    assert signer.algorithm == "sm2-sm3" and key.exists()
    with pytest.raises(SigningKeyError):
        signer_from_settings(bundle(signing_algorithm="ed25519", signing_key=str(key)))
    with pytest.raises(SigningKeyError):
        signer_from_settings(bundle(signing_algorithm="ed25519"))
    with pytest.raises(SettingsError, match="bundle.signing_algorithm / BUNDLE_SIGNING_ALGORITHM"):
        bundle(signing_algorithm="rsa", signing_key=str(key))
