"""The local AWS keeps its state on disk (ARCHITECTURE.md §8; docs/LOCAL-STACK.md "State that survives a stop and a crash").

moto keeps everything in memory; `wbr dev`'s two moto servers (local/aws.py) write what they
acknowledge under the state folder's `aws/` before they answer, and load it when they start:
the DynamoDB server a journal and snapshots (local/dynamodb_state.py), the S3 + SQS server a file
per object, bucket and queue (local/objects_state.py). This module is what they share: the
format of the files, the damage they report, and the WSGI plumbing around moto's application.

Every file is sealed: a header and the SHA-256 of its content (whole files are written to a
temporary name and renamed, so a crash leaves the old or the new one); every journal record
carries its length and CRC-32. A damaged file stops the server with `DamagedState` (the path,
the problem, what to do), never an empty stack; the one exception is a journal's last record cut
short by a crash: it was never acknowledged, and is dropped with a warning.

Writes reach the operating system before the answer (they survive a `kill -9` of every process);
snapshots and object files are not fsync'ed one by one, so a power cut may lose the last seconds.
The pickles are moto's classes: a state written by another moto version is reported, not guessed.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import struct
import sys
import threading
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

MAGIC = b"wbr-local-state 1\n"
_RECORD_HEADER = struct.Struct(">II")  # length, CRC-32 of the payload
START_OVER = "`wbr dev --fresh` (make run-fresh) starts over with an empty local state (the demo is loaded again)"


class DamagedState(Exception):
    """A state file that cannot be trusted: where, what is wrong, and what to do."""

    def __init__(self, path: Path, problem: str, remedy: str = "") -> None:
        super().__init__(path, problem, remedy)
        self.path, self.problem, self.remedy = path, problem, remedy

    def __str__(self) -> str:
        remedy = self.remedy or "move it aside (its content is then lost) and start again"
        return (
            f"the local state is damaged: {self.path}: {self.problem}.\n"
            f"Nothing was changed. To keep the rest of the state: {remedy}; or {START_OVER}."
        )


# ---- sealed files and journals ------------------------------------------------------------


def seal(payload: bytes) -> bytes:
    return MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def unseal(path: Path, data: bytes) -> bytes:
    header = len(MAGIC) + 65
    if not data.startswith(MAGIC) or len(data) < header:
        raise DamagedState(path, "it is not a state file of this version, or it is cut short")
    digest, payload = data[len(MAGIC) : header - 1], data[header:]
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        raise DamagedState(path, "its content does not match its checksum (half-written or altered)")
    return payload


def write_sealed(path: Path, payload: bytes, durable: bool = False) -> None:
    """Write whole or not at all: a temporary file renamed over `path` (fsync'ed if `durable`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    with open(temporary, "wb") as file:
        file.write(seal(payload))
        if durable:
            file.flush()
            os.fsync(file.fileno())
    os.replace(temporary, path)


def read_sealed(path: Path) -> bytes:
    try:
        return unseal(path, path.read_bytes())
    except OSError as error:
        raise DamagedState(path, f"it cannot be read ({error})") from None


def load_pickle(path: Path) -> Any:
    payload = read_sealed(path)
    try:
        return pickle.loads(payload)  # noqa: S301 - our own file, checked against its checksum
    except Exception as error:  # noqa: BLE001 - whatever unpickling raises, the file is unusable
        raise DamagedState(path, f"its content cannot be loaded ({error!r}; moto {moto_version()} here)") from None


class Journal:
    """Records appended to a file, each `length, CRC-32, payload`, each with one write(2)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.records = 0

    def append(self, payload: bytes) -> None:
        os.write(self._fd, _RECORD_HEADER.pack(len(payload), zlib.crc32(payload)) + payload)
        self.records += 1

    def close(self) -> None:
        os.close(self._fd)

    @staticmethod
    def read(path: Path) -> tuple[list[bytes], int]:
        """The records, and the offset where a last record cut short by a crash starts (the
        file's size if none). A record that is whole but does not match its CRC is damage."""
        data = path.read_bytes()
        records: list[bytes] = []
        offset = 0
        while offset < len(data):
            if offset + _RECORD_HEADER.size > len(data):
                return records, offset
            length, crc = _RECORD_HEADER.unpack_from(data, offset)
            start = offset + _RECORD_HEADER.size
            if start + length > len(data):
                return records, offset
            payload = data[start : start + length]
            if zlib.crc32(payload) != crc:
                raise DamagedState(
                    path, f"its record {len(records) + 1} (at byte {offset}) does not match its checksum"
                )
            records.append(payload)
            offset = start + length
        return records, offset


def moto_version() -> str:
    import moto

    return str(moto.__version__)


def warn(message: str) -> None:
    print(f"local AWS: {message}", file=sys.stderr, flush=True)


# ---- WSGI plumbing ------------------------------------------------------------------------

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def call_to_the_end(
    app: WsgiApp, environ: dict[str, Any], start_response: Callable[..., Any]
) -> tuple[str, list[bytes]]:
    """Run the app to the end (its whole answer in memory); its status line and body."""
    status: list[str] = []

    def capture(line: str, headers: Any, exc_info: Any = None) -> Any:
        status.append(line)
        return start_response(line, headers, exc_info)

    result = app(environ, capture)
    try:
        body = list(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return (status[-1] if status else "500"), body


def buffered_body(environ: dict[str, Any]) -> bytes:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    body = stream.read(int(length)) if length else stream.read()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


# ---- starting over ------------------------------------------------------------------------


def erase(state_dir: Path) -> list[Path]:
    """`wbr dev --fresh`: remove the local AWS's state and what depends on it (stream positions,
    health, the demo's mark); the dev keys stay. What was removed."""
    import shutil

    removed = []
    for name in ("aws", "streams.json", "health.json", "demo.json"):
        path = state_dir / name
        if path.is_dir():
            shutil.rmtree(path)
            removed.append(path)
        elif path.exists():
            path.unlink()
            removed.append(path)
    return removed
