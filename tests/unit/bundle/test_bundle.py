"""Bundle round trip, then every kind of tampering caught and named."""
from __future__ import annotations

import io
import json
import zipfile

import pytest

from invoice_archive.bundle import build_bundle, new_signer, verify_bundle
from tests.support.invoices import sample

from .conftest import invoice_file, make_parts


def members_of(bundle: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def rezip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def flip(data: bytes, offset: int = -20) -> bytes:
    b = bytearray(data)
    b[offset] ^= 0x01
    return bytes(b)


@pytest.fixture(scope="module")
def bundle(synthetic_parts, signer) -> bytes:
    return build_bundle(synthetic_parts, signer)


def test_round_trip_passes_with_the_published_key(bundle, signer):
    report = verify_bundle(bundle, signer.public_key_pem())
    assert report.failed == (), report.to_text()
    assert report.status == "pass" and report.key_source == "given"
    assert report.algorithm == signer.algorithm
    assert report.invoice_count == 2
    codes = {c.code for c in report.checks}
    assert {"signature_valid", "signature_origin", "file_sha256", "file_sm3", "file_size", "extra_file",
            "invoice_signature", "invoice_data_matches", "rendition_matches"} <= codes
    assert json.loads(json.dumps(report.to_dict()))["status"] == "pass"
    assert "通过" in report.to_text()


def test_embedded_key_proves_integrity_not_origin(bundle):
    report = verify_bundle(bundle)
    assert report.ok and report.status == "pass_integrity_only"
    assert report.key_source == "embedded"
    origin = [c for c in report.checks if c.code == "signature_origin"]
    assert origin and origin[0].result == "warning" and "不能证明" in origin[0].detail


def test_bundle_holds_every_part(bundle, signed_ofd, xml_invoice):
    m = members_of(bundle)
    manifest = json.loads(m["manifest.json"])
    paths = {f["path"] for f in manifest["files"]}
    assert set(m) == paths | {"manifest.json", "manifest.sig"}
    assert {"voucher/voucher.json", "voucher/voucher.xml", "claim/claim.json", "reports/rules.json",
            "metadata/archive.json", "audit/audit_log.json", "public_key.pem"} <= paths
    assert m["invoices/01/original.ofd"] == signed_ofd
    assert m["invoices/02/original.xml"] == xml_invoice
    assert m["invoices/01/rendition.pdf"].startswith(b"%PDF")
    claim = json.loads(m["claim/claim.json"])
    assert [s["step"] for s in claim["sign_offs"]] == ["经办", "审核", "审批"]
    for f in manifest["files"]:
        assert len(f["sha256"]) == 64 and len(f["sm3"]) == 64 and f["size"] == len(m[f["path"]])


def test_equal_parts_give_equal_bytes_for_ed25519(synthetic_parts):
    signer = new_signer("ed25519")  # Ed25519 is deterministic; SM2 signatures are randomised
    assert build_bundle(synthetic_parts, signer) == build_bundle(synthetic_parts, signer)


def _tampered(bundle: bytes, **changes) -> bytes:
    m = members_of(bundle)
    for name, fn in changes.items():
        name = name.replace("__", "/").replace("_DOT_", ".")
        if fn is None:
            del m[name]
        else:
            m[name] = fn(m.get(name))
    return rezip(m)


def _codes(report) -> set[str]:
    return report.failed_codes()


def test_flipped_byte_in_an_original_is_caught(bundle, signer):
    m = members_of(bundle)
    m["invoices/01/original.ofd"] = flip(m["invoices/01/original.ofd"], 200)
    report = verify_bundle(rezip(m), signer.public_key_pem())
    assert report.status == "fail"
    bad = [c for c in report.failed if c.file == "invoices/01/original.ofd"]
    assert {"file_sha256", "file_sm3"} <= {c.code for c in bad}


def test_flipped_byte_in_a_report_is_caught(bundle, signer):
    m = members_of(bundle)
    m["reports/rules.json"] = flip(m["reports/rules.json"], 5)
    report = verify_bundle(rezip(m), signer.public_key_pem())
    assert {("file_sha256", "reports/rules.json"), ("file_sm3", "reports/rules.json")} <= \
        {(c.code, c.file) for c in report.failed}


def test_flipped_byte_in_the_manifest_is_caught(bundle, signer):
    m = members_of(bundle)
    text = m["manifest.json"]
    pos = text.index(b'"size": ') + 8
    m["manifest.json"] = flip(text, pos)  # still valid JSON, a size changed
    report = verify_bundle(rezip(m), signer.public_key_pem())
    assert "signature_valid" in _codes(report)


def test_flipped_byte_in_the_signature_is_caught(bundle, signer):
    m = members_of(bundle)
    sig = json.loads(m["manifest.sig"])
    raw = bytearray(__import__("base64").b64decode(sig["signature"]))
    raw[10] ^= 0x01
    sig["signature"] = __import__("base64").b64encode(bytes(raw)).decode()
    m["manifest.sig"] = json.dumps(sig).encode()
    report = verify_bundle(rezip(m), signer.public_key_pem())
    assert "signature_valid" in _codes(report)
    m["manifest.sig"] = flip(members_of(bundle)["manifest.sig"], 3)
    assert _codes(verify_bundle(rezip(m), signer.public_key_pem())) & {"signature_valid", "signature_present"}


def test_swapped_for_another_validly_signed_invoice_is_caught(bundle, signer, other_signed_ofd):
    m = members_of(bundle)
    m["invoices/01/original.ofd"] = other_signed_ofd
    report = verify_bundle(rezip(m), signer.public_key_pem())
    codes = _codes(report)
    assert {"file_sha256", "file_sm3", "file_size"} & codes
    assert "invoice_data_matches" in codes  # and it is not the invoice on record
    assert "rendition_matches" in codes


def test_swap_with_rewritten_manifest_breaks_the_signature(bundle, signer, other_signed_ofd):
    from invoice_archive.digests import sha256_hex, sm3_hex

    m = members_of(bundle)
    m["invoices/01/original.ofd"] = other_signed_ofd
    manifest = json.loads(m["manifest.json"])
    for f in manifest["files"]:
        if f["path"] == "invoices/01/original.ofd":
            f.update(size=len(other_signed_ofd), sha256=sha256_hex(other_signed_ofd), sm3=sm3_hex(other_signed_ofd))
    m["manifest.json"] = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
    report = verify_bundle(rezip(m), signer.public_key_pem())
    assert "signature_valid" in _codes(report)


def test_dropped_file_is_caught(bundle, signer):
    m = members_of(bundle)
    del m["audit/audit_log.json"]
    report = verify_bundle(rezip(m), signer.public_key_pem())
    assert ("file_present", "audit/audit_log.json") in {(c.code, c.file) for c in report.failed}


def test_added_file_is_caught(bundle, signer):
    m = members_of(bundle)
    m["invoices/01/extra.txt"] = b"not on the manifest"
    report = verify_bundle(rezip(m), signer.public_key_pem())
    assert ("extra_file", "invoices/01/extra.txt") in {(c.code, c.file) for c in report.failed}


def test_wrong_public_key_is_caught(bundle, signer):
    other = new_signer(signer.algorithm)
    report = verify_bundle(bundle, other.public_key_pem())
    assert {"signature_valid", "signature_key_matches"} <= _codes(report)
    wrong_kind = new_signer("ed25519" if signer.algorithm == "sm2-sm3" else "sm2-sm3")
    assert "signature_valid" in _codes(verify_bundle(bundle, wrong_kind.public_key_pem()))


def test_replaced_embedded_key_and_resigned_manifest_fails_origin(bundle, signer):
    """An attacker re-signs with their own key and embeds it: integrity holds with
    the embedded key, but the published key refuses it."""
    import base64

    attacker = new_signer(signer.algorithm)
    m = members_of(bundle)
    m["reports/rules.json"] = m["reports/rules.json"].replace(b"pass", b"fail")
    manifest = json.loads(m["manifest.json"])
    from invoice_archive.bundle.signing import key_fingerprint
    from invoice_archive.digests import sha256_hex, sm3_hex

    m["public_key.pem"] = attacker.public_key_pem()
    for f in manifest["files"]:
        d = m[f["path"]]
        f.update(size=len(d), sha256=sha256_hex(d), sm3=sm3_hex(d))
    manifest["signature"]["key_id"] = key_fingerprint(attacker.public_key_pem())
    body = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
    m["manifest.json"] = body
    m["manifest.sig"] = json.dumps({"algorithm": signer.algorithm,
                                    "signature": base64.b64encode(attacker.sign(body)).decode()}).encode()
    tampered = rezip(m)
    assert verify_bundle(tampered).status == "pass_integrity_only"  # as designed: proves nothing about origin
    assert "signature_valid" in _codes(verify_bundle(tampered, signer.public_key_pem()))


def test_recorded_verdict_differs_from_reverification(signed_ofd, signer):
    inv = invoice_file("a.ofd", signed_ofd)
    forged = dict(inv.verification, verdict="tampered")
    parts = make_parts([type(inv)(inv.filename, inv.data, forged)])
    report = verify_bundle(build_bundle(parts, signer), signer.public_key_pem())
    bad = [c for c in report.failed if c.code == "invoice_signature"]
    assert bad and "不一致" in bad[0].detail


def test_damaged_compressed_data_is_a_failed_check_not_a_crash(bundle, signer):
    """A byte changed inside a deflated member (headers intact): zlib refuses the
    member; the verifier reports it instead of raising."""
    with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
        info = max((i for i in zf.infolist() if i.compress_type == zipfile.ZIP_DEFLATED), key=lambda i: i.compress_size)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    damaged = bytearray(bundle)
    damaged[start + 2:start + 12] = bytes(b ^ 0xFF for b in damaged[start + 2:start + 12])
    report = verify_bundle(bytes(damaged), signer.public_key_pem())
    assert report.status == "fail"


def test_not_a_zip_and_missing_manifest(signer, bundle):
    assert verify_bundle(b"garbage").failed_codes() == {"bundle_readable"}
    m = members_of(bundle)
    del m["manifest.json"]
    codes = verify_bundle(rezip(m), signer.public_key_pem()).failed_codes()
    assert "manifest_readable" in codes


@pytest.mark.parametrize("rel", [
    "ofdrw/converter__1.ofd", "ofdrw/converter__999.ofd", "ofdrw/converter__20240531141733.ofd",
    "ofdrw/converter__发票示例.ofd", "ofd-go/售票换开样例.ofd", "ofdrw/layout__no_page_container.ofd",
    "easyofd/增值税电子专票5.ofd", "ofdrw/converter__SignScaleError.ofd",
    "xml/dzfp_24322000000012345678_special_multiline_synthetic.xml",
])
def test_real_invoices_round_trip(rel, signer):
    data = sample(rel)
    parts = make_parts([invoice_file(rel.rsplit("/", 1)[-1], data)])
    bundle = build_bundle(parts, signer)
    report = verify_bundle(bundle, signer.public_key_pem())
    assert report.ok, report.to_text()
    assert members_of(bundle)["invoices/01/original." + rel.rsplit(".", 1)[-1]] == data
    if "发票示例" in rel:  # tampered at the source: recorded as such, reported as a warning
        assert any(c.code == "invoice_signature" and c.result == "warning" for c in report.checks)


def test_all_real_invoices_in_one_bundle(signer):
    rels = ["ofdrw/converter__1.ofd", "ofdrw/layout__keyword2.ofd", "ofd-go/退票样例.ofd",
            "xml/dzfp_24112000000048542163_synthetic.xml"]
    parts = make_parts([invoice_file(r.rsplit("/", 1)[-1], sample(r)) for r in rels])
    bundle = build_bundle(parts, signer)
    assert verify_bundle(bundle, signer.public_key_pem()).status == "pass"
    m = members_of(bundle)
    m["invoices/02/original.ofd"], m["invoices/03/original.ofd"] = m["invoices/03/original.ofd"], m["invoices/02/original.ofd"]
    report = verify_bundle(rezip(m), signer.public_key_pem())
    assert {c.file for c in report.failed if c.code == "file_sha256"} == {"invoices/02/original.ofd",
                                                                        "invoices/03/original.ofd"}
