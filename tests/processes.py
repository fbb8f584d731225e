"""Helpers for tests that start real processes."""

from __future__ import annotations

import subprocess


def stop(process: subprocess.Popen) -> None:
    """Ask a process to end (SIGTERM), and kill it if it has not within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
