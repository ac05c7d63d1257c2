"""Where finished WARC files live: a local folder, or an S3-compatible object store.

Files are always written in the local folder (``ARCHIVE_HOME/warcs``). With ``WARC_STORE`` empty they
stay there. With ``WARC_STORE=s3://bucket/prefix`` each closed file is uploaded (multipart past
``S3_MULTIPART_THRESHOLD``), checked against its SHA-256 by reading the stored object back, and only
then removed locally; records are read with ranged GETs. The upload is checked by reading it back
rather than by the server's checksum because a multipart object's checksum is one of its parts', not
the file's SHA-256, and not every store the code is meant for keeps checksums (SeaweedFS, R2 and Ceph
differ); the file's SHA-256 is kept in the object's metadata (``x-amz-meta-sha256``) for `verify`.
"""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from archive.keys import private_dir
from archive.settings import SettingError, Settings
from archive.warc.arc import ARCHIVE_SUFFIXES as WARC_NAME_ENDS

OPEN_SUFFIX = ".open"
SIDECAR = ".source.json"  # what an imported WACZ said of a WARC, beside it (archive/rebuild/importer.py)
SHA256_META = "sha256"  # object metadata key holding the file's SHA-256 (hex), set at upload
READ_AHEAD = 1 << 20  # bytes a whole-file read (verify, reindex) asks for per ranged GET


class ObjectStoreError(RuntimeError):
    """The object store refused or lost a WARC file; the message names it and what to check."""


class WarcStore:
    """The folder interface every reader of WARC files goes through."""

    spool: Path  # the local folder files are written in
    remote = False  # files leave the spool once stored

    def names(self) -> list[str]:
        """Every WARC file's name (without ``.open``), finished or still being written."""
        raise NotImplementedError

    def size(self, name: str) -> int:
        raise NotImplementedError

    def open(self, name: str) -> BinaryIO:
        """A seekable reader of file ``name``."""
        raise NotImplementedError

    def read_range(self, name: str, offset: int, length: int) -> bytes:
        """``length`` bytes of ``name`` from ``offset`` (fewer at its end)."""
        with self.open(name) as fh:
            fh.seek(offset)
            return fh.read(length)

    @contextmanager
    def local_copy(self, name: str) -> Iterator[Path]:
        """A path to the whole file on this disk while the block runs (walking whole files: reindex)."""
        path = self._local(name)
        if path is None:
            raise FileNotFoundError(f"WARC file {name} is missing from {self.where()}")
        yield path

    def publish(self, path: Path, keep: bool = False) -> None:
        """A closed file in the spool: into the store (for the local store it is there already).

        ``keep``: leave the local file (the caller reads it, then removes it).
        """

    def publish_pending(self) -> list[str]:
        """Finished files left in the spool (a crash before their upload): publish them."""
        return []

    def stored_sha256_problem(self, name: str) -> str | None:
        """Why the stored file does not hash to the SHA-256 recorded when it was stored, if it does not."""
        return None

    def where(self, name: str = "") -> str:
        """The file (or the store) as a person would look for it."""
        raise NotImplementedError

    def _local(self, name: str) -> Path | None:
        """The spool's copy of ``name`` (finished, or still being written), if there is one."""
        for path in (self.spool / name, self.spool / (name + OPEN_SUFFIX)):
            if path.exists():
                return path
        return None

    def _local_names(self) -> set[str]:
        if not self.spool.is_dir():
            return set()
        return {p.name.removesuffix(OPEN_SUFFIX) for p in self.spool.iterdir()
                if p.name.removesuffix(OPEN_SUFFIX).endswith(WARC_NAME_ENDS)}


class LocalWarcStore(WarcStore):
    """WARC files on this machine's disk, in ``folder`` (the default)."""

    def __init__(self, folder: Path):
        self.spool = Path(folder)

    def names(self) -> list[str]:
        return sorted(self._local_names())

    def size(self, name: str) -> int:
        path = self._local(name)
        if path is None:
            raise FileNotFoundError(self.where(name))
        return path.stat().st_size

    def open(self, name: str) -> BinaryIO:
        # The finished name, the .open one, then the finished name again: the writer may rename
        # the file between two tries.
        base = self.spool / name
        for path in (base, Path(str(base) + OPEN_SUFFIX), base):
            try:
                return open(path, "rb")
            except FileNotFoundError:
                continue
        raise FileNotFoundError(f"WARC file {name} is missing from {self.spool}")

    def where(self, name: str = "") -> str:
        return str(self.spool / name) if name else str(self.spool)


class S3WarcStore(WarcStore):
    """WARC files as objects ``<prefix>/<name>`` in an S3 bucket; the spool holds only unfinished ones."""

    remote = True

    def __init__(self, url: str, spool: Path, endpoint_url: str = "", multipart_threshold: int = 64 << 20,
                 client=None):
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise SettingError(f"WARC_STORE={url!r} is not s3://bucket/prefix; leave it empty for local disk")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.spool = Path(spool)
        self.endpoint_url = endpoint_url or None
        self.multipart_threshold = multipart_threshold
        self._client = client
        self._lock = threading.Lock()
        self.on_get: Callable[[str, int], None] | None = None  # (range asked, bytes received): for tests

    @property
    def client(self):
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                # Path-style addressing works on every store named in README (AWS too); checksums
                # only where required, as several S3-compatible stores refuse the newer defaults.
                self._client = boto3.client("s3", endpoint_url=self.endpoint_url, config=Config(
                    s3={"addressing_style": "path"}, retries={"max_attempts": 5, "mode": "standard"},
                    request_checksum_calculation="when_required", response_checksum_validation="when_required"))
            return self._client

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def where(self, name: str = "") -> str:
        return f"s3://{self.bucket}/{self.key(name)}" if name else f"s3://{self.bucket}/{self.prefix}"

    def names(self) -> list[str]:
        found = self._local_names()
        start = self.key("")
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
            for item in page.get("Contents", []):
                name = item["Key"][len(start):]
                if "/" not in name and name.endswith(WARC_NAME_ENDS):
                    found.add(name)
        return sorted(found)

    def _head(self, name: str) -> dict:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.key(name))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(f"WARC file {name} is missing from {self.where()}") from None
            raise ObjectStoreError(f"{self.where(name)}: {exc}") from exc

    def size(self, name: str) -> int:
        local = self._local(name)
        return local.stat().st_size if local else self._head(name)["ContentLength"]

    def open(self, name: str) -> BinaryIO:
        local = self._local(name)
        if local is not None:  # still being written, or waiting for its upload
            return LocalWarcStore(self.spool).open(name)
        return io.BufferedReader(_RangedObject(self, name, self.size(name)), buffer_size=READ_AHEAD)

    def read_range(self, name: str, offset: int, length: int) -> bytes:
        if self._local(name) is not None:
            return super().read_range(name, offset, length)
        if length <= 0:
            return b""
        return self.get_range(name, offset, offset + length - 1)

    def get_range(self, name: str, first: int, last: int) -> bytes:
        """Bytes ``first`` to ``last`` (inclusive) of object ``name``, by one ranged GET."""
        from botocore.exceptions import ClientError

        asked = f"bytes={first}-{last}"
        try:
            reply = self.client.get_object(Bucket=self.bucket, Key=self.key(name), Range=asked)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404"):
                raise FileNotFoundError(f"WARC file {name} is missing from {self.where()}") from None
            if code == "InvalidRange":
                return b""
            raise ObjectStoreError(f"{self.where(name)} {asked}: {exc}") from exc
        data = reply["Body"].read()
        if self.on_get:
            self.on_get(asked, len(data))
        return data

    @contextmanager
    def local_copy(self, name: str) -> Iterator[Path]:
        if self._local(name) is not None:
            with super().local_copy(name) as path:
                yield path
            return
        # One streaming GET into a temporary folder, the file under its own name (walks report it).
        with tempfile.TemporaryDirectory(prefix=".fetch-", dir=self.spool) as folder:
            path = Path(folder) / name
            try:
                self.client.download_file(self.bucket, self.key(name), str(path))
            except Exception as exc:
                raise ObjectStoreError(f"downloading {self.where(name)} failed: {exc}") from exc
            try:
                self.client.download_file(self.bucket, self.key(name + SIDECAR), str(path) + SIDECAR)
            except Exception:  # noqa: BLE001  (most files have none)
                pass
            yield path

    def publish(self, path: Path, keep: bool = False) -> None:
        """Upload ``path``, read the stored object back against its SHA-256, then remove ``path``.

        Raises ObjectStoreError (the local file is kept, so the next start tries again).
        """
        from boto3.s3.transfer import TransferConfig

        path = Path(path)
        sha256 = _file_sha256(path)
        size = path.stat().st_size
        config = TransferConfig(multipart_threshold=self.multipart_threshold,
                                multipart_chunksize=max(self.multipart_threshold, 5 << 20), use_threads=False)
        try:
            self.client.upload_file(str(path), self.bucket, self.key(path.name), Config=config,
                                    ExtraArgs={"Metadata": {SHA256_META: sha256},
                                               "ContentType": "application/warc"})
        except Exception as exc:
            raise ObjectStoreError(f"uploading {path} to {self.where(path.name)} failed ({exc}); it stays "
                                   f"in {self.spool} and is uploaded at the next start") from exc
        problem = self.stored_sha256_problem(path.name, expected=(sha256, size))
        if problem:
            raise ObjectStoreError(f"{problem}; {path} is kept and uploaded again at the next start")
        sidecar = path.with_name(path.name + SIDECAR)
        if sidecar.exists():
            self.client.upload_file(str(sidecar), self.bucket, self.key(sidecar.name))
        if not keep:
            path.unlink()
            sidecar.unlink(missing_ok=True)

    def publish_pending(self) -> list[str]:
        done = []
        if not self.spool.is_dir():
            return done
        for path in sorted(self.spool.iterdir()):
            if path.name.endswith(WARC_NAME_ENDS) and path.is_file():
                self.publish(path)
                done.append(path.name)
        return done

    def stored_sha256_problem(self, name: str, expected: tuple[str, int] | None = None) -> str | None:
        if self._local(name) is not None:
            return None  # not stored yet
        head = self._head(name)
        recorded = head.get("Metadata", {}).get(SHA256_META)
        want = expected[0] if expected else recorded
        if not want:
            return f"{self.where(name)} has no {SHA256_META} in its metadata, so its bytes cannot be checked"
        if expected and head["ContentLength"] != expected[1]:
            return f"{self.where(name)} holds {head['ContentLength']} bytes, not the {expected[1]} uploaded"
        if expected and recorded != want:
            return f"{self.where(name)}'s metadata says SHA-256 {recorded}, not the uploaded file's {want}"
        digest = hashlib.sha256()
        reply = self.client.get_object(Bucket=self.bucket, Key=self.key(name))
        for chunk in reply["Body"].iter_chunks(READ_AHEAD):
            digest.update(chunk)
        if digest.hexdigest() != want:
            return (f"{self.where(name)} has SHA-256 {digest.hexdigest()}, but was stored with {want}: "
                    f"the object changed or was damaged after its upload")
        return None


class _RangedObject(io.RawIOBase):
    """A seekable raw reader of one object: each read is one ranged GET (BufferedReader reads ahead)."""

    def __init__(self, store: S3WarcStore, name: str, size: int):
        self.store, self.name, self.length, self.pos = store, name, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.pos, os.SEEK_END: self.length}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer) -> int:
        if self.pos >= self.length:
            return 0
        last = min(self.pos + len(buffer), self.length) - 1
        data = self.store.get_range(self.name, self.pos, last)
        buffer[:len(data)] = data
        self.pos += len(data)
        return len(data)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(READ_AHEAD), b""):
            digest.update(chunk)
    return digest.hexdigest()


_stores: dict[tuple, WarcStore] = {}
_stores_lock = threading.Lock()


def warc_store(settings: Settings) -> WarcStore:
    """The WARC store ``settings`` name (one per process and configuration, so its client is reused)."""
    key = (settings.warc_store, settings.s3_endpoint_url, settings.s3_multipart_threshold, settings.warc_dir)
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            private_dir(settings.warc_dir)
            if settings.warc_store:
                store = S3WarcStore(settings.warc_store, settings.warc_dir, settings.s3_endpoint_url,
                                    settings.s3_multipart_threshold)
            else:
                store = LocalWarcStore(settings.warc_dir)
            _stores[key] = store
        return store


def as_store(where: Path | str | WarcStore) -> WarcStore:
    """A store from a folder (local disk) or a store already."""
    return where if isinstance(where, WarcStore) else LocalWarcStore(Path(where))
