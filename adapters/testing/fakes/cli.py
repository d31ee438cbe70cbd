"""``invoice-archive fake-accounting --system kingdee --port 8765``: run one fake
accounting system on 127.0.0.1 until Ctrl-C (for demos and manual tests).

The project's CLI wires it with ``add_parser(subparsers)`` and calls
``run(args)``; ``python -m invoice_archive_adapters.testing.fakes`` runs it on its own.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from invoice_archive_adapters.testing.fakes import SYSTEMS, FakeServer, make_fake

ADAPTERS = {
    "generic_json": "invoice_archive_adapters.generic_json.GenericJsonAdapter",
    "kingdee": "invoice_archive_adapters.kingdee.K3CloudAdapter",
    "u8": "invoice_archive_adapters.u8.U8EaiAdapter",
    "yonsuite": "invoice_archive_adapters.yonsuite.YonSuiteAdapter",
}


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--system", required=True, choices=sorted(SYSTEMS),
                        help="which accounting system to fake")
    parser.add_argument("--port", type=int, default=0,
                        help="TCP port on 127.0.0.1 (0 = any free port; the fake listens on loopback only)")
    parser.add_argument("--hang-seconds", type=float, default=35.0,
                        help="how long a scripted timeout holds its reply (default 35 s, above the adapters' "
                             "default 30 s read timeout)")
    parser.set_defaults(handler=run)
    return parser


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``fake-accounting`` on an argparse subparsers object."""
    parser = subparsers.add_parser("fake-accounting", help="run a fake accounting system on 127.0.0.1",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    return configure(parser)


def settings_for(system: str, server: FakeServer) -> dict[str, str]:
    """The accounting.* settings that point the service at this fake, and a posting.account.*
    mapping from its chart of accounts (K/3 Cloud's accounts are numbered with dots)."""
    settings = {"accounting.backend": ADAPTERS[system], "accounting.url": server.url, **server.app.posting_accounts}
    app = server.app
    if system == "generic_json":
        settings["accounting.token"] = app.token  # type: ignore[attr-defined]
    elif system == "kingdee":
        settings.update({f"accounting.{k}": v for k, v in app.credentials.items()})  # type: ignore[attr-defined]
    elif system == "yonsuite":
        settings.update({f"accounting.{k}": v for k, v in app.credentials.items()})  # type: ignore[attr-defined]
        settings["posting.book"] = app.accbook_code  # type: ignore[attr-defined]
    elif system == "u8":
        settings["accounting.sender"] = sorted(app.senders)[0]  # type: ignore[attr-defined]
    return settings


def run(args: argparse.Namespace) -> int:
    app = make_fake(args.system)
    app.hang_seconds = args.hang_seconds
    server = FakeServer(app, args.port)
    try:
        server.start()
    except OSError as exc:
        print(f"无法在 127.0.0.1:{args.port} 启动模拟记账系统：{exc}", file=sys.stderr)
        return 1
    print(f"模拟记账系统 {args.system} 已启动：{server.url}（按 Ctrl-C 停止）", flush=True)
    print("在配置文件中使用：", flush=True)
    for key, value in settings_for(args.system, server).items():
        print(f"  {key} = {value}", flush=True)
    if args.system == "kingdee":
        print("凭证过账后才算入账（accounting.posted_when = posted，默认）。会计可用金蝶官方 SDK（k3cloud_webapi_sdk）"
              "以用户「李会计」对凭证调用 Submit、Audit，再以 ExcuteOperation(opNumber=Post) 过账（本模拟服务的约定）。",
              flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = configure(argparse.ArgumentParser(prog="python -m invoice_archive_adapters.testing.fakes", description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
