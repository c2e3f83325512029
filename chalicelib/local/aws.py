"""The local AWS of `wbr dev` (ARCHITECTURE.md §8): moto servers on loopback that keep AWS's promises.

Two servers, because moto's threaded server applies a DynamoDB transaction as several steps that
concurrent requests interleave (50 concurrent identical creates made 2 reports):
- DynamoDB (and its streams) on a single-threaded server: one request at a time, so every
  transaction and conditional write is atomic, as on AWS;
- S3, SQS and the rest on a threaded server (presigned downloads and lake reads in parallel).
  S3 and SQS share it, so the bucket's `incoming/` notifications reach the queue.
Both check every request's SigV4 signature, presigned links' expiry too, as AWS does (moto checks
none): chalicelib/local/sigv4.py, with the key pair of the environment they start in.

Each keeps what it acknowledged under the state folder's `aws/` and loads it when it starts
(local/dynamodb_state.py, local/objects_state.py): a stopped or killed stack starts again with its data. A damaged state
stops the server before it listens, with the reason in `aws/<server>/startup-error`, which
`start` raises.

Their pids and ports are kept in `.local/aws.pids`. A `wbr dev` killed with `kill -9` alone
leaves them running with their data: the next `wbr dev` on the same ports adopts them (and its
first sweep resumes or fails the reports whose runs died); on other ports it reaps them. Killed
with its whole process group, they die too, and the next start loads their state from disk.
They ignore Ctrl-C (it reaches the whole group): `wbr dev` stops them last, with SIGTERM, and
they finish the request at hand and (DynamoDB) write a snapshot before they exit.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_MARKER = "chalicelib.local.aws"


def serve(host: str, port: int, threaded: bool, state: Path | None = None) -> None:
    """Run moto's server app (what `moto_server` runs), threaded (S3, SQS, … kept as files) or
    one request at a time (DynamoDB, kept as a journal and snapshots), its state in `state`."""
    import threading

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    from chalicelib.local import dynamodb as local_dynamodb
    from chalicelib.local.dynamodb_state import DynamoDBState
    from chalicelib.local.objects_state import ObjectsState
    from chalicelib.local.persistence import DamagedState
    from chalicelib.local.sigv4 import SignatureGate

    local_dynamodb.speed_up()  # same answers, faster queries (see local/dynamodb.py)
    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    application: Any = DomainDispatcherApplication(create_backend_app)
    store: DynamoDBState | ObjectsState | None = None
    if state is not None:
        error_file = state / STARTUP_ERROR
        error_file.unlink(missing_ok=True)
        try:
            if threaded:
                store = ObjectsState(state)
                store.load()
            else:
                store = DynamoDBState(state)
                store.load(application)
        except DamagedState as damaged:
            error_file.write_text(str(damaged))
            sys.exit(3)
        application = store.app(application)
    # the signature check comes first: a refused request reaches neither moto nor the journal
    credentials = {os.environ.get("AWS_ACCESS_KEY_ID", "local"): os.environ.get("AWS_SECRET_ACCESS_KEY", "local")}
    application = SignatureGate(application, credentials)
    server = make_server(host, port, application, threaded=threaded, request_handler=MotoRequestHandler)
    signal.signal(signal.SIGTERM, lambda signum, frame: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever()
    finally:
        if isinstance(store, DynamoDBState):
            store.close()


STARTUP_ERROR = "startup-error"


@dataclass(frozen=True)
class LocalAwsEndpoints:
    endpoint_url: str
    dynamodb_url: str

    def environment(self) -> dict[str, str]:
        """botocore's service-specific endpoint variables route DynamoDB to its own server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb_url,
            "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": self.dynamodb_url,
        }


class LocalAws:
    """Starts and stops the two servers; `reap_orphans` first if a previous run was killed."""

    def __init__(self, state_dir: Path, aws_port: int, dynamodb_port: int, persist: bool = True) -> None:
        self._pid_file = state_dir / "aws.pids"
        self._state = state_dir / "aws" if persist else None
        self._ports = {"threaded": aws_port, "dynamodb": dynamodb_port}
        self._processes: list[subprocess.Popen[bytes]] = []
        self._adopted: list[int] = []

    @property
    def endpoints(self) -> LocalAwsEndpoints:
        return LocalAwsEndpoints(
            f"http://127.0.0.1:{self._ports['threaded']}", f"http://127.0.0.1:{self._ports['dynamodb']}"
        )

    def ports(self) -> list[int]:
        return list(self._ports.values())

    def adopt_orphans(self) -> bool:
        """Take over the servers a killed `wbr dev` left running on these very ports (their data
        is intact); False if there are none (any on other ports are reaped)."""
        recorded = _read_record(self._pid_file)
        pids = [int(pid) for pid in recorded.get("pids", [])]
        alive = [pid for pid in pids if _is_local_aws(pid)]
        if pids and len(alive) == len(pids) and recorded.get("ports") == self._ports:
            if all(not port_free(port) for port in self._ports.values()):
                self._adopted = alive
                return True
        self.reap_orphans()
        return False

    def reap_orphans(self) -> list[int]:
        """Kill servers a killed `wbr dev` of this checkout left behind; their pids."""
        reaped = []
        for pid in _read_record(self._pid_file).get("pids", []):
            if _is_local_aws(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                    reaped.append(pid)
                except ProcessLookupError:
                    pass
        for pid in reaped:
            _wait_gone(pid)
        self._pid_file.unlink(missing_ok=True)
        return reaped

    def state_folders(self) -> dict[str, Path]:
        """Where each server keeps its state (none if not persisting)."""
        return {"threaded": self._state / "objects", "dynamodb": self._state / "dynamodb"} if self._state else {}

    def has_state(self) -> bool:
        """True if a previous run left state to load."""
        return any(folder.exists() and any(folder.iterdir()) for folder in self.state_folders().values())

    def start(self, timeout: float = 60.0) -> LocalAwsEndpoints:
        """Start both servers (each loads its state first); raises RuntimeError, with the reason
        and what to do, if one does not come up (a damaged state, say)."""
        self.spawn()
        return self.wait_ready(timeout)

    def spawn(self) -> None:
        """Start both server processes (they load their state, then listen): see `wait_ready`."""
        self._pid_file.parent.mkdir(parents=True, exist_ok=True)
        folders = self.state_folders()
        for name, port in self._ports.items():
            arguments = [sys.executable, "-m", _MARKER, "--port", str(port)]
            if name == "dynamodb":
                arguments.append("--single-threaded")
            if name in folders:
                arguments += ["--state", str(folders[name])]
            self._processes.append(
                subprocess.Popen(
                    arguments,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        self._pid_file.write_text(
            json.dumps({"pids": [process.pid for process in self._processes], "ports": self._ports})
        )

    def wait_ready(self, timeout: float = 60.0) -> LocalAwsEndpoints:
        """Wait until both spawned servers listen; RuntimeError (why, what to do) if one exits."""
        folders = self.state_folders()
        try:
            for process, port in zip(self._processes, self._ports.values(), strict=True):
                _wait_for_port(port, process, timeout)
        except RuntimeError:
            errors = [folder / STARTUP_ERROR for folder in folders.values() if (folder / STARTUP_ERROR).exists()]
            self.stop()
            if errors:
                raise RuntimeError("\n".join(path.read_text() for path in errors)) from None
            raise
        return self.endpoints

    def stop(self) -> None:
        for pid in self._adopted:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            try:
                process.wait(30)  # DynamoDB writes its snapshot first
            except subprocess.TimeoutExpired:
                process.kill()
        self._pid_file.unlink(missing_ok=True)


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _read_record(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text())
        return record if isinstance(record, dict) else {}
    except (OSError, ValueError, TypeError):
        return {}


def _is_local_aws(pid: int) -> bool:
    try:
        return _MARKER in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def _wait_gone(pid: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _is_local_aws(pid):
        time.sleep(0.05)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the local AWS (moto server on port {port}) exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the local AWS did not listen on port {port} within {timeout:.0f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="one moto server of the local AWS")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--single-threaded", action="store_true", help="one request at a time (DynamoDB)")
    parser.add_argument("--state", type=Path, help="the folder to keep the state in (none: memory only)")
    arguments = parser.parse_args(argv)
    serve(arguments.host, arguments.port, threaded=not arguments.single_threaded, state=arguments.state)


if __name__ == "__main__":
    main()
