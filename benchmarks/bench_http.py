"""Intake over HTTP, served the way production runs it, against the in-process floor.

Run: .venv/bin/python benchmarks/bench_http.py [--invoices 1200] [--clients 16]
        [--processes 1,2,4] [--rounds 3] [--threads 2] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

For each number of service processes it makes a fresh PostgreSQL database
(migrated by the console script), starts ``invoice-archive -c production.ini
serve --processes P`` on a loopback port with a filesystem store, and posts N
distinct synthetic invoices: half 数电票 XML, half OFD signed by the test PKI.
The invoices come from C concurrent clients, each on its own keep-alive
connection, spread over two client processes. It prints throughput, p50, p95
and p99 latency, the error count and the rows stored. Beside them it prints the
in-process floor: ``read_invoice`` plus ``verify`` over the same files in one
process, as ``invoice-archive inspect`` and ``verify`` do. The ratio is the
service's throughput over that floor. The clients run on the same machine and
take CPU from the service. That is stated, not hidden. Each process count runs
``--rounds`` times, the counts interleaved, and the medians close the report:
on a shared machine one round can be a third slower than the next.

Targets (2 cores): >= 300 invoices/s with 16 clients, p99 < 200 ms, zero errors,
throughput growing with processes.
"""
from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
BIN = Path(sys.executable).parent
CLI = str(BIN / "invoice-archive")
BUYER = ("压测单位（合成）", "91310000SYNTH0002B")


def make_invoices(n: int, out: Path) -> list[Path]:
    """N distinct invoices, half XML and half signed OFD (made once, then reused)."""
    from datetime import date

    from invoice_archive.synth.ofd import SynthInvoice, build_ofd_invoice
    from invoice_archive.synth.xml import SynthInvoice as XmlInvoice
    from invoice_archive.synth.xml import build_xml_invoice
    from tests.support import testca

    out.mkdir(parents=True, exist_ok=True)
    files = sorted(out.glob("*"))
    if len(files) >= n:
        return files[:n]
    pki = testca.build_pki()
    seal = testca.SealSpec(pki.seal_maker)
    paths = []
    for i in range(n):
        if i % 2 == 0:
            path = out / f"{i:06d}.xml"
            data = build_xml_invoice(XmlInvoice(number=f"2499{7000000000000000 + i:016d}",
                                                buyer_name=BUYER[0], buyer_tax_id=BUYER[1]))
        else:
            path = out / f"{i:06d}.ofd"
            inv = SynthInvoice(number=f"{30000000 + i:08d}", code="044001900111", issue_date=date(2024, 5, 1),
                               buyer_name=BUYER[0], buyer_tax_id=BUYER[1])
            data = testca.sign_ofd(build_ofd_invoice(inv), pki.signer, seal)
        path.write_bytes(data)
        paths.append(path)
    return paths


def floor(paths: list[Path]) -> float:
    """Invoices per second read and verified in one process (the work the service exists for)."""
    from invoice_archive.cli.verify import verify_bytes
    from invoice_archive.formats import read_invoice

    blobs = [p.read_bytes() for p in paths]
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for data in blobs:
            read_invoice(data, whole_package=True)
            verify_bytes(data, None)
        best = max(best, len(blobs) / (time.perf_counter() - start))
    return best


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _psql(admin: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(admin.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(sql)


def _cpu_by_group(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of the service's processes, PostgreSQL's, this benchmark's
    (and its clients') and everything else on the machine, from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    me = os.getpid()
    out = {"service": 0.0, "postgresql": 0.0, "clients": 0.0, "other": 0.0}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        ppid, cpu = int(fields[1]), (int(fields[11]) + int(fields[12])) / tick
        if int(pid) == server_pid or ppid == server_pid:
            out["service"] += cpu
        elif cmd.startswith(b"postgres"):
            out["postgresql"] += cpu
        elif int(pid) == me or ppid == me:
            out["clients"] += cpu
        else:
            out["other"] += cpu
    return out


def _client(args: tuple[str, int, str, list[tuple[str, bytes]], mp.Barrier]) -> list[tuple[int, float]]:
    """One client: a keep-alive connection posting its share; (status, seconds) per request."""
    host, port, token, work, barrier = args
    conn = http.client.HTTPConnection(host, port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"}
    barrier.wait()
    out = []
    for name, data in work:
        start = time.perf_counter()
        try:
            conn.request("POST", f"/api/v1/invoices?filename={quote(name)}", body=data, headers=headers)
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=60)
            status = 0
        out.append((status, time.perf_counter() - start))
    conn.close()
    return out


def _clients_in_process(args: tuple) -> list[tuple[int, float]]:
    host, port, token, shares, barrier = args
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(shares)) as pool:
        results = pool.map(_client, [(host, port, token, share, barrier) for share in shares])
    return [r for chunk in results for r in chunk]


def round_(processes: int, paths: list[Path], clients: int, threads: int, admin: str, tmp: Path) -> dict:
    db = f"ia_bench_http_{os.getpid()}_{processes}"
    _psql(admin, f"DROP DATABASE IF EXISTS {db}")
    _psql(admin, f"CREATE DATABASE {db}")
    url = admin.rsplit("/", 1)[0] + f"/{db}"
    store = tmp / f"store-{processes}"
    env = {**os.environ, "DATABASE_URL": url, "ARCHIVE_STORE_URL": store.as_uri(),
           "BUNDLE_SIGNING_KEY": str(tmp / "bundle.pem"), "BUNDLE_SIGNING_ALGORITHM": "ed25519",
           "REIMBURSABLE_VERDICTS": "valid"}
    ini = str(PROJECT / "production.ini")
    run = lambda *a: subprocess.run([CLI, "-c", ini, *a], env=env, check=True, capture_output=True, text=True)  # noqa: E731
    run("db", "upgrade")
    run("org", "create", "--name", BUYER[0], "--tax-id", BUYER[1], "--fonds", "B001")
    token = run("token", "create", "--org", "B001", "--role", "finance", "--name", "压测").stdout.strip().splitlines()[-1]
    port = _free_port()
    server = subprocess.Popen([CLI, "-c", ini, "serve", "--processes", str(processes), "--threads", str(threads),
                               "--listen", f"127.0.0.1:{port}"], env=env, stdout=subprocess.DEVNULL,
                              stderr=(tmp / f"serve-{processes}.log").open("wb"))   # never an unread pipe
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/api/v1/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        work = [(p.name, p.read_bytes()) for p in paths]
        shares = [work[i::clients] for i in range(clients)]
        client_procs = 2
        per = [shares[i::client_procs] for i in range(client_procs)]
        barrier = mp.Manager().Barrier(clients + 1)
        with mp.Pool(client_procs) as pool:
            pending = pool.map_async(_clients_in_process, [("127.0.0.1", port, token, p, barrier) for p in per])
            before = _cpu_by_group(server.pid)
            barrier.wait()
            start = time.perf_counter()
            results = [r for chunk in pending.get() for r in chunk]
            wall = time.perf_counter() - start
            after = _cpu_by_group(server.pid)
    finally:
        server.terminate()
        server.wait(30)
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        rows = conn.execute("SELECT count(*) FROM invoices").fetchone()[0]
    _psql(admin, f"DROP DATABASE {db}")
    shutil.rmtree(store, ignore_errors=True)
    lat = sorted(t for _, t in results)
    q = statistics.quantiles(lat, n=100)
    return {"processes": processes, "n": len(results), "wall": wall, "rate": len(results) / wall,
            "p50": q[49] * 1000, "p95": q[94] * 1000, "p99": q[98] * 1000,
            "errors": sum(1 for s, _ in results if s != 201), "rows": rows,
            "cpu_ms": {k: (after[k] - before[k]) * 1000 / len(results) for k in after}}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--invoices", type=int, default=1200)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--processes", default="1,2,4")
    p.add_argument("--rounds", type=int, default=3,
                   help="rounds of every process count, interleaved; the medians are printed after")
    p.add_argument("--pg", default=os.environ.get("BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-http-"))
    try:
        from invoice_archive.bundle import generate_key
        generate_key("ed25519", tmp / "bundle.pem")
        paths = make_invoices(args.invoices, Path(tempfile.gettempdir()) / f"bench-http-invoices-{args.invoices}")
        base = floor(paths)
        print(f"machine: {os.cpu_count()} CPUs; {args.invoices} invoices (half XML, half signed OFD); "
              f"{args.clients} clients in 2 client processes on the same machine")
        print(f"floor   in-process read + verify: {base:,.0f} invoices/s on one core")
        print(f"{'processes':>9} {'inv/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7} "
              f"{'rows':>6} {'vs floor':>9}   CPU ms per invoice")
        counts = [int(x) for x in args.processes.split(",")]
        results: dict[int, list[dict]] = {n: [] for n in counts}
        for _ in range(args.rounds):          # the process counts interleaved, so that a slow spell hits all
            for n in counts:
                r = round_(n, paths, args.clients, args.threads, args.pg, tmp)
                results[n].append(r)
                print(f"{r['processes']:>9} {r['rate']:>8.0f} {r['p50']:>8.0f} {r['p95']:>8.0f} {r['p99']:>8.0f} "
                      f"{r['errors']:>7} {r['rows']:>6} {r['rate'] / base:>8.1%}   "
                      + " ".join(f"{k} {v:.1f}" for k, v in r["cpu_ms"].items()), flush=True)
        if args.rounds > 1:
            print(f"medians of {args.rounds} rounds (range):")
            for n in counts:
                rates, p99s = [r["rate"] for r in results[n]], [r["p99"] for r in results[n]]
                service = statistics.median(r["cpu_ms"]["service"] for r in results[n])
                print(f"{n:>9} {statistics.median(rates):>8.0f} inv/s ({min(rates):.0f}–{max(rates):.0f}), "
                      f"p99 {statistics.median(p99s):.0f} ms ({min(p99s):.0f}–{max(p99s):.0f}), "
                      f"errors {sum(r['errors'] for r in results[n])}, service CPU {service:.1f} ms per invoice")
        print("targets: >= 300 invoices/s with 16 clients, p99 < 200 ms, zero errors, growing with processes")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
