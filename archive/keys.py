"""Keys the archive keeps in ARCHIVE_HOME, and the modes everything there is made with.

ARCHIVE_HOME holds password hashes (the catalog), the session key and evidence not yet public, so
its folders are made 0700 and its files 0600 (``private_dir``, ``private_file``, ``create_private``),
whatever the umask; a key or catalog file found open to others is made 0600, with a warning.

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


PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def _tighten(path: Path, mode: int) -> None:
    found = path.stat().st_mode & 0o777
    if found & 0o077:
        log.warning("%s was open to others (mode %o); made it %o", path, found, mode)
        os.chmod(path, mode)


def private_dir(path: Path) -> Path:
    """Make folder ``path`` and its missing parents with mode 0700 (a folder that exists is left as it
    is: ARCHIVE_HOME may be a folder the operator made on purpose)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    for made in missing:
        os.chmod(made, PRIVATE_DIR)  # mkdir's mode does not reach parents, and the umask may narrow it
    return path


def private_file(path: Path) -> Path:
    """Make ``path`` an (empty) file of mode 0600 if there is none; tighten it if others may read it."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        _tighten(path, PRIVATE_FILE)
    return path


def create_private(path: Path, mode: str = "xb"):
    """Open a new file ``path`` (which must not exist) for writing, mode 0600: ``open(path, "xb")``."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE), mode)


def secret_key(settings: Settings) -> str:
    """``SECRET_KEY``, or the archive's own key from its secret file (made once, mode 0600)."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.archive_home) / SECRET_FILE
    if not path.exists():
        _write_once(path, (secrets.token_hex(32) + "\n").encode())
    _tighten(path, PRIVATE_FILE)
    key = path.read_text().strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable key; delete it to have a new one made, or set SECRET_KEY")
    return key


SIGNING_FILE = "signing_key.pem"


def signing_key(settings: Settings):
    """The ECDSA P-256 key that signs WACZ packages: ``SIGNING_KEY``'s file, or the archive's own,
    made on first use in ``ARCHIVE_HOME/signing_key.pem`` (mode 0600) like the secret key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = Path(settings.signing_key) if settings.signing_key else Path(settings.archive_home) / SIGNING_FILE
    if not settings.signing_key and not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        _write_once(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    try:
        _tighten(path, PRIVATE_FILE)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise RuntimeError(f"SIGNING_KEY: {path} does not exist; give the path of a PEM private key, "
                           "or leave SIGNING_KEY empty to have one made in ARCHIVE_HOME") from None
    except (ValueError, TypeError) as exc:
        raise RuntimeError(f"{path} holds no usable private key ({exc}); give an unencrypted PEM ECDSA P-256 key"
                           + ("" if settings.signing_key else ", or delete the file to have a new one made")) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise RuntimeError(f"{path}: the WACZ signing spec wants an ECDSA P-256 key; make one with "
                           "`openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt`")
    return key


def _write_once(path: Path, data: bytes) -> None:
    # Written whole under a temporary name, then linked into place: a second process starting at
    # the same moment either wins or reads the first one's complete key.
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        with create_private(tmp) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
