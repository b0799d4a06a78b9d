"""Content-addressed blob storage on a local (or mounted) file system.

A blob lives at ``root/sha256/ab/cd/<64 hex digits>`` where ``ab`` and ``cd`` are the first
two byte pairs of its digest; its media type and size sit beside it in ``<hex>.meta`` (JSON).
``key_for(sha256)`` gives that relative path, which doubles as the object key of an
S3-compatible store, so blobs can move there without renaming anything.

Writes go to a temporary file in the target directory, are fsynced and then moved into place
with ``os.replace``: readers see a whole blob or none. The sidecar is written before the blob,
so a blob that exists always has its media type. ``put`` is idempotent: the same bytes map to
the same address, and storing them again only returns the existing reference.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

from application.ports import BlobRef

_DIGEST = re.compile(r"[0-9a-f]{64}")
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*")
_FALLBACK_MEDIA_TYPE = "application/octet-stream"


class BlobNotFoundError(KeyError):
    """No blob is stored under the requested sha256 address."""

    def __init__(self, sha256: str) -> None:
        super().__init__(sha256)
        self.sha256 = sha256

    def __str__(self) -> str:
        return f"no blob with sha256 {self.sha256}"


class BlobCorruptedError(RuntimeError):
    """The bytes stored under an address no longer hash to it (disk damage, tampering)."""


class FileBlobStore:
    """A ``BlobStore`` keeping each blob in a file named by its sha256 digest."""

    def __init__(self, root: Path, *, verify_reads: bool = True) -> None:
        self.root = Path(root)
        self.verify_reads = verify_reads

    @staticmethod
    def key_for(sha256: str) -> str:
        """The blob's relative path / object key, ``sha256/ab/cd/<hex>``."""
        digest = _normalise_digest(sha256)
        return f"sha256/{digest[0:2]}/{digest[2:4]}/{digest}"

    def path_for(self, sha256: str) -> Path:
        """Where the blob with this digest lives (whether or not it exists)."""
        return self.root / self.key_for(sha256)

    def put(self, data: bytes, media_type: str) -> BlobRef:
        """Store ``data``; returns its reference. Storing the same bytes again is a no-op.

        The first media type recorded for some bytes is kept: the returned reference always
        describes what is stored.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError("blob data must be bytes")
        media_type = media_type.strip().lower()
        if not _MEDIA_TYPE.fullmatch(media_type):
            raise ValueError(f"not a media type: {media_type!r}")
        payload = bytes(data)
        digest = hashlib.sha256(payload).hexdigest()
        blob_path = self.path_for(digest)
        meta_path = _meta_path(blob_path)
        if blob_path.is_file():
            stored = self._read_meta(meta_path)
            if stored is not None:
                return BlobRef(sha256=digest, media_type=stored, size=len(payload))
        blob_path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"media_type": media_type, "size": len(payload)}
        _write_atomically(meta_path, json.dumps(meta).encode())
        if not blob_path.is_file():
            _write_atomically(blob_path, payload)
        return BlobRef(sha256=digest, media_type=media_type, size=len(payload))

    def get(self, sha256: str) -> bytes:
        """The bytes stored under ``sha256``; BlobNotFoundError when there are none.

        A malformed digest raises ValueError; with ``verify_reads`` the bytes are re-hashed and
        a mismatch raises BlobCorruptedError.
        """
        digest = _normalise_digest(sha256)
        try:
            data = self.path_for(digest).read_bytes()
        except FileNotFoundError:
            raise BlobNotFoundError(digest) from None
        if self.verify_reads and hashlib.sha256(data).hexdigest() != digest:
            raise BlobCorruptedError(f"blob {digest} does not match its content address")
        return data

    def exists(self, sha256: str) -> bool:
        """Whether a blob is stored under ``sha256`` (a malformed digest raises ValueError)."""
        return self.path_for(sha256).is_file()

    def stat(self, sha256: str) -> BlobRef:
        """The stored blob's reference (media type and size) without reading it."""
        digest = _normalise_digest(sha256)
        blob_path = self.path_for(digest)
        try:
            size = blob_path.stat().st_size
        except FileNotFoundError:
            raise BlobNotFoundError(digest) from None
        media_type = self._read_meta(_meta_path(blob_path)) or _FALLBACK_MEDIA_TYPE
        return BlobRef(sha256=digest, media_type=media_type, size=size)

    @staticmethod
    def _read_meta(meta_path: Path) -> str | None:
        try:
            meta = json.loads(meta_path.read_bytes())
            media_type = meta["media_type"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return media_type if isinstance(media_type, str) else None


def _normalise_digest(sha256: str) -> str:
    """Lower-case hex digest; anything else is refused (it would also escape ``root``)."""
    digest = sha256.strip().lower() if isinstance(sha256, str) else ""
    if not _DIGEST.fullmatch(digest):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return digest


def _meta_path(blob_path: Path) -> Path:
    return blob_path.with_name(f"{blob_path.name}.meta")


def _write_atomically(target: Path, data: bytes) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o644)  # mkstemp's 0600 would hide blobs from servers
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


__all__ = ["BlobCorruptedError", "BlobNotFoundError", "FileBlobStore"]
