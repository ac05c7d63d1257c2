"""Keys the archive keeps in ARCHIVE_HOME.

The key signing sessions, form tokens and staff replay passes is ``SECRET_KEY`` if set; otherwise one
is made on first start and kept in ``ARCHIVE_HOME/secret_key`` (mode 0600), so sessions survive
restarts and every process serving the same archive (the app and the replay origin) agrees on it.
"""
from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from archive.settings import Settings

log = logging.getLogger(__name__)
SECRET_FILE = "secret_key"


def secret_key(settings: Settings) -> str:
    """``SECRET_KEY``, or the archive's own key from its secret file (made once, mode 0600)."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.archive_home) / SECRET_FILE
    if not path.exists():
        _create_secret(path)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("%s was readable by others (mode %o); made it 0600", path, mode)
        os.chmod(path, 0o600)
    key = path.read_text().strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable key; delete it to have a new one made, or set SECRET_KEY")
    return key


def _create_secret(path: Path) -> None:
    # Written whole under a temporary name, then linked into place: a second process
    # starting at the same moment either wins or reads the first one's complete key.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
