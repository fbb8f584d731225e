"""Helpers for tests that start real processes or servers: a free port, a bounded wait, a clean stop."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float = 60, what: str = "the condition", *,
               process: subprocess.Popen | None = None, log: Path | None = None, interval: float = 0.1,
               transient: type[BaseException] | tuple[type[BaseException], ...] = ()) -> None:
    """Poll `condition` until it is true; fail after `timeout` seconds, or as soon as `process` has exited (with
    the end of its `log`). `transient` errors raised by the condition count as "not yet" (a server not listening)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except transient:
            pass
        if process is not None and process.poll() is not None:
            tail = log.read_text(encoding="utf-8", errors="replace")[-3000:] if log is not None else ""
            raise AssertionError(f"process exited with {process.returncode} while waiting for {what}\n{tail}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def stop(process: subprocess.Popen) -> None:
    """Ask a process to end (SIGTERM), and kill it if it has not within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
