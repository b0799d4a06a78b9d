"""FileBlobStore: content addressing, layout, idempotence, atomicity and refusals."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import pytest

import infrastructure.blobs.file_store as file_store
from application.ports import BlobRef
from infrastructure.blobs.file_store import BlobCorruptedError, BlobNotFoundError, FileBlobStore

DATA = b"\x89PNG not really, but bytes all the same"
DIGEST = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> FileBlobStore:
    return FileBlobStore(tmp_path / "blobs")


def test_put_returns_the_content_address(store: FileBlobStore) -> None:
    ref = store.put(DATA, "image/png")
    assert ref == BlobRef(sha256=DIGEST, media_type="image/png", size=len(DATA))


def test_get_returns_the_bytes(store: FileBlobStore) -> None:
    store.put(DATA, "image/png")
    assert store.get(DIGEST) == DATA
    assert store.get(DIGEST.upper()) == DATA  # digests are case-insensitive hex


def test_layout_is_sha256_ab_cd_hex(store: FileBlobStore, tmp_path: Path) -> None:
    store.put(DATA, "image/png")
    expected = tmp_path / "blobs" / "sha256" / DIGEST[:2] / DIGEST[2:4] / DIGEST
    assert expected.read_bytes() == DATA
    assert FileBlobStore.key_for(DIGEST) == f"sha256/{DIGEST[:2]}/{DIGEST[2:4]}/{DIGEST}"
    meta = json.loads(expected.with_name(f"{DIGEST}.meta").read_text())
    assert meta == {"media_type": "image/png", "size": len(DATA)}


def test_put_is_idempotent_and_keeps_the_first_media_type(store: FileBlobStore) -> None:
    first = store.put(DATA, "image/png")
    path = store.path_for(DIGEST)
    mtime = path.stat().st_mtime_ns
    again = store.put(DATA, "application/octet-stream")
    assert again == first
    assert path.stat().st_mtime_ns == mtime  # not rewritten
    assert store.stat(DIGEST) == first


def test_exists(store: FileBlobStore) -> None:
    assert not store.exists(DIGEST)
    store.put(DATA, "image/png")
    assert store.exists(DIGEST)


def test_missing_blob_raises_a_key_error(store: FileBlobStore) -> None:
    missing = "0" * 64
    with pytest.raises(BlobNotFoundError) as caught:
        store.get(missing)
    assert isinstance(caught.value, KeyError)
    assert caught.value.sha256 == missing
    with pytest.raises(BlobNotFoundError):
        store.stat(missing)


@pytest.mark.parametrize("bad", ["", "abc", "../../etc/passwd", "g" * 64, "0" * 63, "0" * 65])
def test_malformed_digests_are_refused(store: FileBlobStore, bad: str) -> None:
    with pytest.raises(ValueError):
        store.get(bad)
    with pytest.raises(ValueError):
        store.exists(bad)


@pytest.mark.parametrize("bad", ["", "png", "image/", "/png", "image/png; x=../"])
def test_malformed_media_types_are_refused(store: FileBlobStore, bad: str) -> None:
    with pytest.raises(ValueError):
        store.put(DATA, bad)
    assert not store.exists(DIGEST)


def test_empty_blob_is_storable(store: FileBlobStore) -> None:
    ref = store.put(b"", "application/octet-stream")
    assert ref.size == 0
    assert store.get(ref.sha256) == b""


def test_corruption_is_detected_on_read(store: FileBlobStore) -> None:
    store.put(DATA, "image/png")
    store.path_for(DIGEST).write_bytes(b"tampered")
    with pytest.raises(BlobCorruptedError):
        store.get(DIGEST)


def test_a_failed_write_leaves_no_blob_and_no_temp_file(
    store: FileBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = os.replace

    def failing_replace(src: str, dst: str | Path) -> None:
        if str(dst).endswith(DIGEST):
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(file_store.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        store.put(DATA, "image/png")
    monkeypatch.undo()
    assert not store.exists(DIGEST)
    leftovers = [p.name for p in store.path_for(DIGEST).parent.iterdir()]
    assert not any(name.endswith(".tmp") for name in leftovers)
    assert store.put(DATA, "image/png").sha256 == DIGEST  # a retry succeeds


def test_concurrent_puts_of_the_same_bytes(store: FileBlobStore) -> None:
    payload = os.urandom(256 * 1024)
    refs: list[BlobRef] = []
    threads = [
        threading.Thread(target=lambda: refs.append(store.put(payload, "image/jpeg")))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({ref.sha256 for ref in refs}) == 1
    assert store.get(refs[0].sha256) == payload
