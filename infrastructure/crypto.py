"""Field-level encryption for personal data inside events (AES-GCM, the library's cipher).

The key is MODISTE_CIPHER_KEY (base64 of 16, 24 or 32 bytes); without it, local mode
generates one and keeps it in ``<data_dir>/cipher-key`` (0600). Losing the key makes the
sealed fields unreadable, by design: back it up with the database.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
from pathlib import Path

from eventsourcing.cryptography import AESCipher
from eventsourcing.utils import Environment

from infrastructure.settings import Settings

CIPHER_KEY_FILE = "cipher-key"
SEALED_PREFIX = "aesgcm1:"
"""Marks the format (AES-GCM, nonce + tag + ciphertext, base64) so it can change later."""
KEY_BYTES = 32


class UnsealError(ValueError):
    """A sealed value was damaged or sealed under another key."""


def load_or_create_cipher_key(path: Path) -> str:
    """The key stored at ``path``, created (race-free, 0600) on first use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = AESCipher.create_key(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process is writing it right now
            existing = path.read_text().strip()
            if existing:
                return existing
            time.sleep(0.02)
        raise RuntimeError(
            f"{path} exists but is empty; remove it or set MODISTE_CIPHER_KEY"
        ) from None
    with os.fdopen(fd, "w") as out:
        out.write(key)
    return key


def resolve_cipher_key(settings: Settings) -> str:
    """MODISTE_CIPHER_KEY, else the local key file under the data dir."""
    return settings.cipher_key or load_or_create_cipher_key(settings.data_dir / CIPHER_KEY_FILE)


class AesSealer:
    """The application's Sealer port over ``eventsourcing.cryptography.AESCipher``."""

    def __init__(self, key: str) -> None:
        try:
            raw = base64.b64decode(key.encode(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("MODISTE_CIPHER_KEY must be base64") from exc
        if len(raw) not in AESCipher.KEY_SIZES:
            raise ValueError("MODISTE_CIPHER_KEY must encode 16, 24 or 32 bytes")
        self._cipher = AESCipher(Environment(env={AESCipher.CIPHER_KEY: key}))

    def seal(self, plaintext: str) -> str:
        ciphertext = self._cipher.encrypt(plaintext.encode("utf-8"))
        return SEALED_PREFIX + base64.b64encode(ciphertext).decode("ascii")

    def unseal(self, sealed: str) -> str:
        if not sealed.startswith(SEALED_PREFIX):
            raise UnsealError("not a sealed value")
        try:
            ciphertext = base64.b64decode(sealed[len(SEALED_PREFIX) :], validate=True)
            return self._cipher.decrypt(ciphertext).decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            raise UnsealError(f"cannot unseal: {exc}") from None


def build_sealer(settings: Settings) -> AesSealer:
    return AesSealer(resolve_cipher_key(settings))
