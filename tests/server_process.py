"""A real ``assay server`` in a subprocess on 127.0.0.1, for the end-to-end tests and bench/.

::

    server = ServerProcess(root, env)      # root: the project folder it serves
    admin = server.init()                  # `assay server init`: the first admin's token
    ana = server.add_user("ana", "approver")
    server.start()                         # waits until /readyz answers 200
    with server.client(ana) as client: ...
    server.kill()                          # SIGKILL: a crash (the steps it started live on)
    server.start()                         # the restart settles and resumes what it left
    server.stop()                          # SIGTERM, then whatever is left of its process group
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from assay.client import Client

ASSAY = str(Path(sys.executable).with_name("assay"))
START_TIMEOUT_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ServerProcess:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = {k: v for k, v in env.items() if k not in ("ASSAY_URL", "ASSAY_TOKEN", "ASSAY_USER")}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = root.parent / f"{root.name}-server.log"
        self.starts = 0
        self._groups: list[int] = []

    # -- accounts, through the real CLI -------------------------------------------------------

    def init(self, name: str = "admin") -> str:
        return self._token(["server", "init", "--name", name])

    def add_user(self, name: str, role: str, project: str | None = None) -> str:
        return self._token(["server", "users", "add", name, "--role", role,
                            *(["--project", project] if project else [])])  # fmt: skip

    def _token(self, args: list[str]) -> str:
        done = subprocess.run([ASSAY, *args], cwd=self.root, env=self.env, capture_output=True, text=True,
                              timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        token = done.stdout.strip().splitlines()[-1]  # the token alone on stdout's line
        assert token.startswith("assay_"), done.stdout
        return token

    # -- the process ------------------------------------------------------------------------

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        self.starts += 1
        with open(self.log, "ab") as log:
            log.write(f"\n--- start {self.starts} ---\n".encode())
            # NOTE: a session of its own, so that SIGKILL of the server leaves its steps running,
            # as a crash of the host's server process does; stop() ends the whole group.
            self.process = subprocess.Popen(
                [ASSAY, "server", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self._groups.append(self.process.pid)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited with {self.process.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"the server did not get ready in {START_TIMEOUT_SECONDS}s:\n{self.tail()}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        for group in self._groups:  # steps a killed server left behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)

    def client(self, token: str, project: str | None = None) -> Client:
        return Client(self.url, token, project=project or self.root.name, timeout=120)

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])
