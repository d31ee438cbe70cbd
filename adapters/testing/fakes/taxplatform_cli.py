"""``invoice-archive fake-taxplatform [--port P] [--script FILE.json]``: run the fake
tax platform on 127.0.0.1 until Ctrl-C (for demos and manual tests).

The script file (UTF-8 JSON) makes invoices known and scripts answers::

    {"invoices": [{"number": "24112000000048542163", "issue_date": "2024-05-28", "total": "4449.00",
                   "buyer_name": "...", "buyer_tax_id": "...", "seller_name": "...", "seller_tax_id": "..."}],
     "answers": {"24112000000051234567": "red_reversed",
                 "83089647": {"answer": "voided", "buyer_name": "..."},
                 "99999951": {"answer": "timeout", "seconds": 30}},
     "token": "optional bearer token", "hang_seconds": 15}

Answers: normal (default), voided, red_reversed, not_found, timeout, unavailable, rate_limited.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from invoice_archive_adapters.testing.fakes.taxplatform import FakeTaxPlatform


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``fake-taxplatform`` on an argparse subparsers object."""
    parser = subparsers.add_parser("fake-taxplatform", help="run a fake tax platform (查验, 入账标识) on 127.0.0.1",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0,
                        help="TCP port on 127.0.0.1 (0 = any free port; the fake listens on loopback only)")
    parser.add_argument("--script", metavar="FILE.json", help="known invoices and scripted answers (JSON)")
    parser.add_argument("--hang-seconds", type=float, default=None,
                        help="how long a scripted timeout holds its reply (default 15 s, above the "
                             "adapter's default 10 s read timeout)")
    parser.set_defaults(func=run, handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    fake = FakeTaxPlatform(port=args.port, hang_seconds=15.0)
    if args.script:
        try:
            spec = json.loads(Path(args.script).read_text("utf-8"))
            if not isinstance(spec, dict):
                raise TypeError("the script must be a JSON object")
            fake.load_script(spec)
        except (OSError, ValueError, TypeError) as exc:
            print(f"无法读取脚本文件 {args.script}：{exc}", file=sys.stderr)
            return 2
    if args.hang_seconds is not None:
        fake.hang_seconds = args.hang_seconds
    try:
        fake.start()
    except OSError as exc:
        print(f"无法在 127.0.0.1:{args.port} 上启动假查验平台：{exc}", file=sys.stderr)
        return 2
    settings = {"taxplatform.backend": "invoice_archive_adapters.taxplatform.http.HttpTaxPlatform", "taxplatform.url": fake.url}
    if fake.token:
        settings["taxplatform.token"] = fake.token
    print(f"fake tax platform listening on {fake.url} (Ctrl-C to stop)", flush=True)
    print(json.dumps(settings, ensure_ascii=False), flush=True)
    try:
        fake.serve_forever_started()
    except KeyboardInterrupt:  # pragma: no cover - serve_forever_started handles it
        pass
    finally:
        fake.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fake-taxplatform")
    sub = parser.add_subparsers(required=True)
    add_parser(sub)
    args = parser.parse_args(["fake-taxplatform", *(argv if argv is not None else sys.argv[1:])])
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
