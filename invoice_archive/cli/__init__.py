"""The `invoice-archive` console script.

    invoice-archive [-c development.ini] db upgrade
    invoice-archive org create --name N --tax-id T --fonds F
    invoice-archive token create --org T --role R [--name NAME]
    invoice-archive demo-setup
    invoice-archive synth-invoice --number N --out FILE
    invoice-archive inspect FILE... [--json]
    invoice-archive verify FILE... [--json]

Settings come from the ini file's [app:main] section; environment variables
(DATABASE_URL, ARCHIVE_STORE_URL, ...) override them, as for the service.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any, Sequence

from invoice_archive.settings import Settings, load

# optional sub-commands contributed by other modules: (module, ...)
PLUGINS = ("invoice_archive.cli.inspect", "invoice_archive.cli.verify", "invoice_archive.cli.verify_bundle",
           "invoice_archive.cli.verify_eep",
           "invoice_archive.cli.audit", "invoice_archive.cli.archive",
           "invoice_archive.cli.worker", "invoice_archive.cli.serve", "invoice_archive.cli.acceptance", "invoice_archive_adapters.testing.fakes.cli", "invoice_archive_adapters.testing.fakes.taxplatform_cli")


def load_settings(ini: str) -> Settings:
    """The ini's [app:main] settings with the environment applied, parsed and checked."""
    from pyramid.paster import get_appsettings

    path = Path(ini)
    if not path.is_file():
        raise SystemExit(f"配置文件 {ini} 不存在（用 -c 指定）")
    return load(dict(get_appsettings(str(path.resolve()), name="main")))


def migrations_dir() -> Path:
    """The alembic scripts (env.py, versions/): the installed package
    ``invoice_archive.migrations`` -- the top-level migrations/ folder of a checkout,
    which setup.py installs under that name -- wherever the code runs from."""
    from importlib.resources import files

    root = files("invoice_archive.migrations")
    if not isinstance(root, Path):   # a zip import has no folder alembic could read
        raise RuntimeError(f"invoice_archive.migrations is not a folder on disk: {root!r}")
    return root


def alembic_config(ini: str, database_url: str) -> Any:
    from alembic.config import Config

    cfg = Config(str(Path(ini).resolve()))
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["database_url"] = database_url
    return cfg


def cmd_db(args: argparse.Namespace) -> int:
    from alembic import command

    url = load_settings(args.config).database.url
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    cfg = alembic_config(args.config, url)
    if args.action == "upgrade":
        command.upgrade(cfg, args.revision)
    elif args.action == "check":
        command.check(cfg)
    elif args.action == "current":
        command.current(cfg, verbose=True)
    return 0


def _session(args: argparse.Namespace) -> Any:
    from invoice_archive.db import make_engine, session_factory

    return session_factory(make_engine(load_settings(args.config).database.url))()


def cmd_org(args: argparse.Namespace) -> int:
    from invoice_archive.services.admin import create_org

    with _session(args) as db, db.begin():
        org = create_org(db, name=args.name, tax_id=args.tax_id, fonds_code=args.fonds)
        print(f"organisation {org.id}: {org.name} ({org.tax_id}), 全宗号 {org.fonds_code}")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    import datetime as dt

    from invoice_archive.services.admin import AdminError, create_token, list_tokens, revoke_token

    with _session(args) as db, db.begin():
        try:
            if args.action == "create":
                if not (args.org and args.role):
                    raise AdminError("arguments_missing", "token create needs --org and --role")
                expires = dt.timedelta(days=args.expires_days) if args.expires_days else None
                token, row = create_token(db, org=args.org, role=args.role, name=args.name, expires_in=expires)
                until = f", expires {row.expires_at:%Y-%m-%d %H:%M} UTC" if row.expires_at else ""
                print(f"token {row.id} ({row.prefix}) for {row.name} (role {row.role}, organisation "
                      f"{row.org_id}{until}); shown once:", file=sys.stderr)
                print(token)
            elif args.action == "list":
                for row in list_tokens(db, args.org):
                    state = "revoked" if row.revoked_at else "active"
                    expires = f"{row.expires_at:%Y-%m-%d}" if row.expires_at else "never"
                    used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never"
                    print(f"{row.id:>5} {row.prefix:<12} org {row.org_id:<4} {row.role:<18} {state:<8} "
                          f"expires {expires:<10} last used {used:<16} {row.name}")
            else:
                row = revoke_token(db, args.token)
                print(f"token {row.id} ({row.prefix}) of {row.name} revoked at {row.revoked_at:%Y-%m-%d %H:%M} UTC")
        except AdminError as exc:
            print(f"error: {exc.code}: {exc}", file=sys.stderr)
            return 2
    return 0


def cmd_authz_matrix(args: argparse.Namespace) -> int:
    """Print the authorization matrix (docs/authorization.md) of this configuration."""
    import tempfile

    from invoice_archive.config import configure
    from invoice_archive.views.authz import markdown, matrix

    with tempfile.TemporaryDirectory() as tmp:   # the routes and views need no real database or store
        config = configure({"sqlalchemy.url": f"sqlite:///{tmp}/authz.sqlite",
                            "archive.store_url": f"file://{tmp}/store", "here": tmp})
        text = markdown(matrix(config))
        config.registry["invoice_archive.engine"].dispose()
    sys.stdout.write(text)
    return 0


def cmd_demo_setup(args: argparse.Namespace) -> int:
    from invoice_archive.services.admin import demo_setup

    with _session(args) as db, db.begin():
        tokens = demo_setup(db)
    for role, token in tokens.items():
        print(f"{role:<18} {token}")
    return 0


def cmd_synth_invoice(args: argparse.Namespace) -> int:
    from invoice_archive.synth.xml import SynthInvoice, build_xml_invoice

    inv = SynthInvoice(number=args.number, buyer_name=args.buyer_name, buyer_tax_id=args.buyer_tax_id)
    data = build_xml_invoice(inv)
    if args.out == "-":
        sys.stdout.buffer.write(data)
    else:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_bytes(data)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="invoice-archive", description="电子发票报销入账归档服务")
    parser.add_argument("-c", "--config", default="development.ini", help="ini file (default development.ini)")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database schema (alembic migrations)")
    db.add_argument("action", choices=["upgrade", "check", "current"])
    db.add_argument("revision", nargs="?", default="head")
    db.set_defaults(func=cmd_db)

    org = sub.add_parser("org", help="organisations (会计主体 / 全宗)")
    org.add_argument("action", choices=["create"])
    org.add_argument("--name", required=True)
    org.add_argument("--tax-id", required=True)
    org.add_argument("--fonds", required=True, help="全宗号, e.g. Z001")
    org.set_defaults(func=cmd_org)

    tok = sub.add_parser("token", help="API tokens: create, list, revoke")
    tok.add_argument("action", choices=["create", "list", "revoke"])
    tok.add_argument("token", nargs="?", help="revoke: the token's id or prefix (as token list shows it)")
    tok.add_argument("--org", help="the organisation's tax ID, fonds code or id (create; list: filter)")
    tok.add_argument("--role", choices=["finance", "approver", "accounting_system", "auditor", "archivist", "admin"])
    tok.add_argument("--name", help="the person (or system) who holds the token; one person may hold several")
    tok.add_argument("--expires-days", type=int, help="create: the token stops working after this many days")
    tok.set_defaults(func=cmd_token)

    authz = sub.add_parser("authz-matrix", help="print the route × role authorization matrix (Markdown)")
    authz.set_defaults(func=cmd_authz_matrix)

    demo = sub.add_parser("demo-setup", help="create the demo organisation and print one token per role")
    demo.set_defaults(func=cmd_demo_setup)

    synth = sub.add_parser("synth-invoice", help="write a synthetic fully digital invoice (XML) for demos")
    synth.add_argument("--number", default="24992000000000000001", help="20-digit invoice number")
    synth.add_argument("--buyer-name", default="演示科技有限公司")
    synth.add_argument("--buyer-tax-id", default="91110000DEMO00001X")
    synth.add_argument("--out", default="-", help="file to write (default: standard output)")
    synth.set_defaults(func=cmd_synth_invoice)

    for name in PLUGINS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "func", None) or args.handler
    from invoice_archive.errors import DomainError

    try:
        return int(handler(args) or 0)
    except DomainError as exc:   # a refusal with its code, never a traceback
        print(f"{exc.code}: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
