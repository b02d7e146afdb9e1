"""Files that never lie: atomic writes with SHA-256 digests, and reads that verify them.

Every file the package writes (checkpoints, sweep chunks, dataset shards, manifests, experiment
outputs) goes through a temporary file in the same directory and an ``os.replace``, so a crash
mid-write leaves the previous version (or nothing) intact, never half a file. Each write returns the
SHA-256 digest of the bytes written; the caller records it in its manifest (or, where several
processes write into one directory, in a ``<name>.sha256`` file beside it: :func:`write_digest`), and
every read (:func:`read_json`, :func:`load_npz`) verifies it and raises :class:`CorruptFileError`
naming the file. No exception of the standard library (``BadZipFile``, ``JSONDecodeError``,
``EOFError``) leaves these readers without the path. No pickle anywhere: ``.npz`` holds plain numeric
arrays and is read back with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Mapping

import numpy as np


class CorruptFileError(ValueError):
    """A file the package wrote earlier is missing, truncated, altered or unparsable; the message names
    it and says how to recover."""


def _tmp_of(path: Path) -> Path:
    # Same directory (os.replace is atomic only within one file system); keep the suffix so that
    # numpy does not append ".npz" to the temporary name; the process id keeps concurrent writers
    # (the processes of a distributed sweep) apart.
    return path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path) -> str:
    """Hex SHA-256 of the file at ``path`` (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_atomic_via(path, write_tmp) -> str:
    """Run ``write_tmp(tmp)`` (a writer of any format, e.g. ``fig.savefig``; ``tmp`` keeps ``path``'s
    suffix), then move ``tmp`` onto ``path`` atomically; returns the SHA-256 of what was written. The
    temporary file is removed if writing fails or is interrupted."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_of(path)
    try:
        write_tmp(tmp)
        digest = sha256_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return digest


def write_bytes_atomic(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (parent directories are created); returns ``path``."""
    path = Path(path)
    write_atomic_via(path, lambda tmp: tmp.write_bytes(data))
    return path


def write_json_atomic(path, obj, *, indent: int = 1) -> Path:
    """``json.dumps(obj)`` to ``path`` atomically (NaN allowed, written as ``NaN``); returns ``path``."""
    return write_bytes_atomic(path, json.dumps(obj, indent=indent, allow_nan=True).encode())


def write_npz_atomic(path, arrays: Mapping[str, np.ndarray]) -> Path:
    """``np.savez(path, **arrays)`` atomically; returns ``path``."""
    path = Path(path)
    write_atomic_via(path, lambda tmp: np.savez(tmp, **arrays))
    return path


def write_npz_digest(path, arrays: Mapping[str, np.ndarray]) -> str:
    """:func:`write_npz_atomic`, returning the SHA-256 of the file written (for a manifest)."""
    return write_atomic_via(Path(path), lambda tmp: np.savez(tmp, **arrays))


def write_bytes_digest(path, data: bytes) -> str:
    """:func:`write_bytes_atomic`, returning the SHA-256 of ``data`` (for a manifest)."""
    return write_atomic_via(Path(path), lambda tmp: tmp.write_bytes(data))


def digest_path(path) -> Path:
    """Where :func:`write_digest` keeps the digest of ``path``: ``<path>.sha256`` beside it."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def write_digest(path, digest: str) -> Path:
    """Record ``digest`` (hex SHA-256) of ``path`` in ``<path>.sha256``, atomically, in the format of
    ``sha256sum`` (so ``sha256sum -c`` checks it from that directory). Write it *after* the file
    itself: a file without its digest file is unfinished until read back whole (:func:`adopt_digest`)."""
    return write_bytes_atomic(digest_path(path), f"{digest}  {Path(path).name}\n".encode())


def recorded_digest(path) -> str | None:
    """The digest :func:`write_digest` recorded for ``path``, or None if there is none (or it is
    unreadable)."""
    try:
        text = digest_path(path).read_text().split()
    except (OSError, UnicodeDecodeError):
        return None
    return text[0] if text and len(text[0]) == 64 else None


def file_is_intact(path, digest: str | None) -> bool:
    """Whether ``path`` exists and its SHA-256 equals ``digest`` (False when ``digest`` is None)."""
    if digest is None:
        return False
    try:
        return sha256_file(path) == digest
    except OSError:
        return False


def adopt_digest(path) -> str | None:
    """The digest recorded beside ``path`` (:func:`recorded_digest`); for a file without one (written
    before digests were recorded, or by a process killed between the file and its digest, the file
    itself being atomic) that reads back whole as ``.npz``, its digest is recorded now and returned.
    None when there is no digest and the file does not read back (missing or partial)."""
    digest = recorded_digest(path)
    if digest is not None:
        return digest
    try:
        load_npz(path, recover="")
    except CorruptFileError:
        return None
    digest = sha256_file(path)
    write_digest(path, digest)
    return digest


def verify_digest(path, digest: str | None, *, recover: str) -> None:
    """Raise :class:`CorruptFileError` naming ``path`` unless its SHA-256 equals ``digest``.

    Args:
        path: the file.
        digest: the recorded hex SHA-256 (None: nothing recorded, accepted unchecked).
        recover: what the user can do about it, appended to the message.
    """
    if digest is None:
        return
    try:
        actual = sha256_file(path)
    except OSError as err:
        raise CorruptFileError(f"{str(path)!r} cannot be read ({err.strerror or err}); {recover}") from None
    if actual != digest:
        raise CorruptFileError(f"{str(path)!r} is corrupted (its SHA-256 differs from the one recorded when it "
                               f"was written: truncated or altered); {recover}")


def read_json(path, *, recover: str, digest: str | None = None):
    """Parse the JSON file at ``path``; a missing, unreadable or unparsable file (or one whose SHA-256
    differs from ``digest``) raises :class:`CorruptFileError` naming it, followed by ``recover``
    (e.g. "delete the directory X to start over")."""
    path = Path(path)
    verify_digest(path, digest, recover=recover)
    try:
        return json.loads(path.read_bytes())
    except OSError as err:
        raise CorruptFileError(f"{str(path)!r} cannot be read ({err.strerror or err}); {recover}") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise CorruptFileError(f"{str(path)!r} is not valid JSON ({err}); {recover}") from None


def load_npz(path, *, recover: str, digest: str | None = None) -> dict:
    """All arrays of the ``.npz`` at ``path`` as ``{name: np.ndarray}`` (read eagerly, no pickle).

    The file's SHA-256 is checked against ``digest`` when given; a missing, truncated or altered file
    raises :class:`CorruptFileError` naming it, followed by ``recover``.
    """
    path = Path(path)
    verify_digest(path, digest, recover=recover)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except OSError as err:
        raise CorruptFileError(f"{str(path)!r} cannot be read ({err.strerror or err}); {recover}") from None
    except (zipfile.BadZipFile, ValueError, EOFError, KeyError) as err:
        raise CorruptFileError(f"{str(path)!r} is not a readable .npz file ({err}); {recover}") from None


def write_json_verified(path, obj, *, indent: int = 1) -> Path:
    """:func:`write_json_atomic`, then its SHA-256 to ``<path>.sha256`` (:func:`write_digest`)."""
    data = json.dumps(obj, indent=indent, allow_nan=True).encode()
    write_digest(path, write_bytes_digest(path, data))
    return Path(path)


def read_json_verified(path, *, recover: str):
    """:func:`read_json` checked against the digest in ``<path>.sha256`` when that file exists (files
    written before digests were recorded are read unchecked)."""
    return read_json(path, recover=recover, digest=recorded_digest(path))
