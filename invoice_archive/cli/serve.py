"""``invoice-archive serve -c production.ini [--processes N] [--threads T] [--listen HOST:PORT]``

Production serving: the supervisor binds the listening socket once, then forks N
service processes that each run waitress with T threads on that same socket, so
the kernel spreads connections over them. The supervisor restarts a process
that dies, and stops them all on SIGTERM or SIGINT. The processes are
stateless: everything lives in the database and the archive store. Run as many
machines as you like behind a load balancer, and one or more
``invoice-archive worker`` processes beside them (docs/deployment.md).
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import time
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve the API with several processes on one port (production)",
                       description=__doc__.split("\n\n")[1].replace("\n", " "))
    p.add_argument("--processes", type=int, default=os.cpu_count() or 2,
                   help="service processes (default: one per CPU)")
    p.add_argument("--threads", type=int, default=2,
                   help="waitress threads per process (default 2: the work is CPU-bound Python, so more "
                        "processes serve better than more threads; docs/deployment.md)")
    p.add_argument("--listen", default="127.0.0.1:6543", help="HOST:PORT (default 127.0.0.1:6543)")
    p.add_argument("--max-request-body-size", type=int, default=26_214_400,
                   help="bytes; waitress refuses larger bodies before the app sees them (default 25 MiB)")
    p.set_defaults(func=run)


def _bind(listen: str) -> socket.socket:
    host, _, port = listen.rpartition(":")
    sock = socket.socket(socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]") or "0.0.0.0", int(port)))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


#: what waitress refuses before the app sees a request, as the API's refusals say it
_HTTP_REFUSALS = {
    400: ("bad_request", "请求不符合 HTTP 规范，服务无法读取。请检查调用方（记账系统接口）发出的请求。"),
    413: ("too_large", "上传内容超过服务允许的上限 {limit} 字节，请确认上传的是发票原文件。"),
    431: ("headers_too_large", "请求头过大，服务无法读取。请检查调用方发出的请求头。"),
    501: ("not_implemented", "请求使用了服务不支持的传输方式（Transfer-Encoding）。"),
}


def json_error_channel(max_request_body_size: int) -> type:
    """waitress's connection class, answering what it refuses itself (a body over
    its limit, a malformed request) in the API's error shape: a stable code and a
    Chinese message, JSON, instead of waitress's plain text."""
    import json

    from waitress.channel import HTTPChannel
    from waitress.task import ErrorTask

    class JsonErrorTask(ErrorTask):
        def execute(self) -> None:
            error = self.request.error
            code, message = _HTTP_REFUSALS.get(error.code, ("internal_error", "服务内部错误，请稍后重试或联系管理员。"))
            body = json.dumps({"error": {"code": code, "message": message.format(limit=max_request_body_size),
                                         "detail": {"http": error.body}}}, ensure_ascii=False).encode("utf-8")
            self.status = f"{error.code} {error.reason}"
            self.response_headers.append(("Content-Type", "application/json; charset=utf-8"))
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)

    class JsonErrorChannel(HTTPChannel):
        error_task_class = JsonErrorTask

    return JsonErrorChannel


def _child(args: argparse.Namespace, sock: socket.socket) -> None:
    """One service process: the app is built after the fork (its own engine and pool)."""
    from pyramid.paster import get_app, setup_logging
    from waitress.server import create_server

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    setup_logging(args.config)
    app = get_app(args.config, "main")
    server = create_server(app, sockets=[sock], threads=args.threads,
                           max_request_body_size=args.max_request_body_size, ident="invoice-archive",
                           connection_limit=1000, backlog=2048)
    server.channel_class = json_error_channel(args.max_request_body_size)   # one socket: one server
    server.run()


def run(args: argparse.Namespace) -> int:
    from invoice_archive.cli import load_settings

    load_settings(args.config)        # fail here, once, on a bad configuration
    if args.processes < 1 or args.threads < 1:
        print("--processes and --threads must be at least 1", file=sys.stderr)
        return 2
    sock = _bind(args.listen)
    children: dict[int, float] = {}
    stopping = False

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:   # pragma: no cover - runs in the child
            try:
                _child(args, sock)
            finally:
                os._exit(0)
        children[pid] = time.monotonic()

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(args.processes):
        spawn()
    print(f"invoice-archive serving on http://{args.listen} with {args.processes} process(es) × "
          f"{args.threads} thread(s) (pids {' '.join(map(str, children))})", flush=True)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:   # pragma: no cover - PEP 475 retries, kept for clarity
            continue
        started = children.pop(pid, None)
        if started is None or stopping:
            continue
        code = os.waitstatus_to_exitcode(status)
        print(f"service process {pid} exited ({code}); starting another", file=sys.stderr, flush=True)
        if time.monotonic() - started < 1.0:
            time.sleep(1.0)      # a process that dies at start-up must not spin
        spawn()
    sock.close()
    return 0
