"""HTTP/1.1 as the recording proxy sees it: the recorded exchange and small wire helpers."""
from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

MAX_HEAD = 64 * 1024
CHUNK = 64 * 1024


class ProxyError(Exception):
    """An exchange that could not be completed; ``kind`` names the failure for the record."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass
class Exchange:
    """One HTTP request and its response, as the bytes went over the wire."""

    url: str
    method: str
    started: datetime
    ip: str
    request_head: bytes
    request_body: bytes
    response_head: bytes = b""
    body: IO[bytes] = field(default_factory=lambda: tempfile.SpooledTemporaryFile(max_size=1 << 20))
    body_length: int = 0
    truncated: str | None = None  # WARC-Truncated reason: length, time, disconnect
    tls: dict | None = None
    status: int = 0
    media: bool = False  # video, audio or a stream's part: counted against the media byte limit

    def header(self, name: str) -> str | None:
        """A response header's value (first one), case-insensitive."""
        name = name.lower().encode()
        for line in self.response_head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name:
                return value.strip().decode("latin-1")
        return None


def parse_head(head: bytes) -> tuple[list[str], list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    first = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        if line:
            key, _, value = line.partition(":")
            headers.append((key.strip(), value.strip()))
    return first, headers


def header_value(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


async def read_head(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as exc:
        raise ProxyError("protocol", "header block too large") from exc



async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()

