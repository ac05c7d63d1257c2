"""A real Redis for the tests: Debian's `redis-server` (installed by `make test-setup` as root).

`redis_url` (session scope) starts one on 127.0.0.1 on a free port, its files in a temporary folder
and nothing saved to disk, and stops it at the end. Where `redis-server` is missing and cannot be
installed (not root), tests that need it are skipped with the reason and the command that fixes it.

    from tests.redis import redis_url  # noqa: F401  (fixture)
"""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest
import redis

from .conftest import free_port
from .waiting import wait_until


def _pong(url: str, proc: subprocess.Popen, log) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"redis-server exited with {proc.returncode}: {log()}")
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=2).ping())
    except redis.ConnectionError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """redis://127.0.0.1:PORT/0 of a throwaway redis-server for this session."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("SKIPPED LOUDLY: redis-server is not installed, so the shared rate-limit tests cannot run; "
                    "`make test-setup` installs it as root (apt-get install redis-server)")
    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    log_path = folder / "redis.log"
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                             "--save", "", "--appendonly", "no", "--logfile", str(log_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_until(lambda: _pong(url, proc, lambda: log_path.read_text(errors="replace")[-2000:]),
                   f"redis-server to answer on port {port}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
