"""A `wbr dev` process of a test's own (own ports, own WBR_STATE_DIR, never a developer's
`make run`), and clients of it: HTTP, boto3 against its local AWS, and `wbr` CLI processes that get
an explicit environment read from that stack's env file. Used by the live suite, the real-client
check and the HTTP benchmarks."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3

from chalicelib.adapters.jwt_tokens import DevKeyPair
from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE
from chalicelib.local.demo import DEMO_ADMIN, DEMO_PARTNER

PROJECT = Path(__file__).resolve().parents[1]
WBR = [sys.executable, "-m", "chalicelib.cli"]
BASE = "/v1/wholesale/billing/reports"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Stack:
    """One `wbr dev` process of our own, restartable."""

    def __init__(
        self, state_dir: Path, demo: bool = False, command: list[str] | None = None, **environ: str
    ) -> None:
        """`command`: how to start it (default `wbr dev`; the README test starts `make run`)."""
        self.state_dir = state_dir
        self.command = command or [*WBR, "dev"]
        ports = [_free_port() for _ in range(3)]
        self.environ = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "WBR_"))},
            "WBR_STATE_DIR": str(state_dir),
            "WBR_API_PORT": str(ports[0]),
            "WBR_AWS_PORT": str(ports[1]),
            "WBR_DYNAMODB_PORT": str(ports[2]),
            "WBR_DEMO": "1" if demo else "0",
            "PYTHONUNBUFFERED": "1",
            **environ,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.env: dict[str, str] = {}

    def start(self, timeout: float = 90) -> None:
        env_file = self.state_dir / "env"
        log = open(self.state_dir / "dev.log", "ab")  # noqa: SIM115 - kept open for the process
        self.process = subprocess.Popen(
            self.command,
            cwd=PROJECT,
            env=self.environ,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:  # a stale env file of a killed stack may still be there: wait for ours
            self.env = {}
            if env_file.exists():
                for line in env_file.read_text().splitlines():
                    name, _, value = line.removeprefix("export ").partition("=")
                    self.env[name] = value.strip("'")
            if self.env.get("WBR_DEV_PID") in self._own_pids():
                break
            assert self.process.poll() is None, (self.state_dir / "dev.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "wbr dev did not become ready"
            time.sleep(0.2)
        keys = DevKeyPair(self.state_dir).ensure()
        self.token = keys.mint(
            issuer="https://idbroker.wbr.local",
            audience="wholesale-billing-reports",
            org_id=DEMO_PARTNER,
            subject=DEMO_ADMIN,
            scopes=[READ_SCOPE, WRITE_SCOPE],
        )

    def _own_pids(self) -> set[str]:
        """The started process and, for `make run`, the `wbr dev` it runs (a child of make)."""
        assert self.process is not None
        pids = {str(self.process.pid)}
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.exists():
            pids.update(children.read_text().split())
        return pids

    def kill_dev_only(self) -> None:
        """`kill -9` of `wbr dev` alone: its local AWS survives, as after a crash."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            if self.command[0] == "make":  # make passes no signal on: Ctrl-C reaches the group
                os.killpg(self.process.pid, signal.SIGINT)
            else:
                self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        for pid_file in ("aws.pids",):
            path = self.state_dir / pid_file
            if path.exists():  # a survivor of a kill: reap it
                for pid in json.loads(path.read_text()).get("pids", []):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass

    def cli(self, *arguments: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """A `wbr` command in its own process, with this stack's environment only."""
        environ = {**self.environ, **self.env}
        return subprocess.run(
            [*WBR, *arguments], cwd=self.state_dir, env=environ, capture_output=True, text=True, timeout=timeout
        )

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.env["WBR_BASE_URL"] + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else {}
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, json.loads(raw) if raw else {}

    def client(self, service: str):  # type: ignore[no-untyped-def]
        endpoint = self.env["AWS_ENDPOINT_URL_DYNAMODB"] if service == "dynamodb" else self.env["AWS_ENDPOINT_URL"]
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def wait_for(self, report_id: str, condition, timeout: float = 60) -> dict:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while True:
            status, report = self.request("GET", f"{BASE}/{report_id}")
            assert status == 200, report
            if condition(report):
                return report
            assert time.monotonic() < deadline, f"{report_id}: still {report}"
            time.sleep(0.3)

    def csv_rows(self, report: dict) -> list[dict[str, str]]:
        with urllib.request.urlopen(report["tempDownloadURL"], timeout=60) as response:
            return list(csv.DictReader(io.StringIO(response.read().decode("utf-8"))))
