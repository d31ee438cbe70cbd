"""``invoice-archive verify-bundle BUNDLE.zip [--public-key KEY] [--json]``

Checks a voucher's audit bundle (审计包, GET /api/v1/vouchers/{id}/bundle) offline
(no database, no network; not the archive package, 归档包, which is a BagIt bag
checked with sha256sum -c manifest-sha256.txt): the
manifest signature, every file's size, SHA-256 and SM3, missing and extra
files, each e-invoice's signature re-verified, and each rendition against the
invoice data.  Exit status: 0 everything passed and the origin is proven by
--public-key; 1 a check failed; 2 the bundle or key cannot be read; 3 nothing
failed but, without --public-key, only the key inside the bundle was used
(integrity proven, origin not).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_PASS, EXIT_FAIL, EXIT_UNREADABLE, EXIT_ORIGIN_UNPROVEN = 0, 1, 2, 3


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "verify-bundle", help="offline check of a voucher's audit bundle (审计包: GET /api/v1/vouchers/{id}/bundle)",
        description=__doc__.split("\n\n")[1].replace("\n", " "))
    p.add_argument("bundle", metavar="BUNDLE.zip", help="the audit bundle (审计包) to check")
    p.add_argument("--public-key", metavar="KEY",
                   help="the service's published public key (PEM, GET /api/v1/bundle-key); without it the key "
                        "inside the bundle is used, which proves integrity but not origin")
    p.add_argument("--trust-store", metavar="DIR",
                   help="trusted root certificates for the invoices' signature chains (as at intake)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("-v", "--verbose", action="store_true", help="also list passed checks")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from invoice_archive.bundle import verify_bundle

    out = sys.stdout
    try:
        data = Path(args.bundle).read_bytes()
    except OSError as exc:
        print(f"无法读取审计包 {args.bundle}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    key = None
    if getattr(args, "public_key", None):
        try:
            key = Path(args.public_key).read_bytes()
        except OSError as exc:
            print(f"无法读取公钥 {args.public_key}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_UNREADABLE
    trust_store = None
    if getattr(args, "trust_store", None):
        from invoice_archive.verification import TrustStore

        try:
            trust_store = TrustStore.from_directory(args.trust_store)
        except (OSError, ValueError) as exc:
            print(f"信任库无法加载: {exc}", file=sys.stderr)
            return EXIT_UNREADABLE
    report = verify_bundle(data, key, trust_store=trust_store)
    if args.json:
        print(json.dumps({"file": str(args.bundle), **report.to_dict()}, ensure_ascii=False, indent=2), file=out)
    else:
        print(f"{args.bundle}", file=out)
        print(report.to_text(verbose=getattr(args, "verbose", False)), end="", file=out)
    if report.failed_codes() == {"bundle_readable"}:
        return EXIT_UNREADABLE
    if report.status == "fail":
        return EXIT_FAIL
    if report.status == "pass_integrity_only":
        return EXIT_ORIGIN_UNPROVEN
    return EXIT_PASS


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m invoice_archive.cli.verify_bundle``)."""
    parser = argparse.ArgumentParser(prog="invoice-archive")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
