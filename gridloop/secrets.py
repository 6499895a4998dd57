"""The key that signs access tokens: from the settings, or kept in the data directory in
development so that tokens survive a restart."""

import contextlib
import hashlib
import os
import secrets
from pathlib import Path

from gridloop.settings import Settings

MINIMUM_LENGTH = 32


class MissingSecretKey(RuntimeError):
    pass


def signing_key(settings: Settings) -> str:
    if settings.secret_key is not None:
        key = settings.secret_key.get_secret_value()
        if len(key) < MINIMUM_LENGTH:
            raise MissingSecretKey(
                f"GRIDLOOP_SECRET_KEY must be at least {MINIMUM_LENGTH} characters"
            )
        return key
    if settings.environment == "production":
        raise MissingSecretKey("production needs GRIDLOOP_SECRET_KEY (at least 32 characters)")
    return _development_key(settings.data_dir / "secret.key")


def _development_key(path: Path) -> str:
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(secrets.token_urlsafe(48))
        # A link appears whole or not at all; if another process linked first, its key wins.
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    return path.read_text(encoding="ascii").strip()


def new_bearer_secret(prefix: str) -> str:
    """A secret a client presents as it is (an API token, an Open311 key): `prefix` says what
    it is, so a leaked one can be recognised."""
    return f"{prefix}{secrets.token_urlsafe(32)}"


def bearer_secret_hash(secret: str) -> str:
    """What is stored of a bearer secret: enough to recognise it, never to present it."""
    return hashlib.sha256(secret.encode()).hexdigest()
