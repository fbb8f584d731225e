"""The service under load: a real `semsearch serve`, its cold start, its memory, and concurrent HTTP searches."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import ROOT
from .timing import QueryStream, percentiles


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants, from /proc/*/stat (psutil is not a dependency)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _status_kb(pid: int, field: str, file: str = "status") -> int:
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def service_memory(pid: int) -> dict:
    """Resident memory of the server and its workers (MB): RSS summed (shared pages counted in each), the
    largest process, and PSS summed (shared pages split between processes) where the kernel provides it."""
    pids = process_tree(pid)
    rss = [_status_kb(p, "VmRSS") / 1024 for p in pids]
    pss = [_status_kb(p, "Pss", "smaps_rollup") / 1024 for p in pids]
    return {"processes": len(pids), "rss_total_mb": sum(rss), "rss_max_mb": max(rss, default=0.0),
            "pss_total_mb": sum(pss)}


class Server:
    """`semsearch serve` on a free port with `workers` uvicorn workers; times Popen to the first /ready 200."""

    def __init__(self, index_dir: Path, workers: int) -> None:
        import httpx

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base, self.workers = f"http://127.0.0.1:{self.port}", workers
        env = {**os.environ, "SEMSEARCH_INDEX_DIR": str(index_dir), "SEMSEARCH_PORT": str(self.port),
               "SEMSEARCH_HOST": "127.0.0.1", "SEMSEARCH_WORKERS": str(workers)}
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop)
        t = time.perf_counter()
        self.process = subprocess.Popen([str(Path(sys.executable).parent / "semsearch"), "serve"], cwd=ROOT,
                                        env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 240
        while True:
            if self.process.poll() is not None or time.time() > deadline:
                self._fail("the service did not become ready")
            try:
                if httpx.get(f"{self.base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.ready_s = time.perf_counter() - t
        while self._log().count("Application startup complete") < workers:  # every worker loaded, not just one
            if self.process.poll() is not None or time.time() > deadline:
                self._fail("not every worker started")
            time.sleep(0.2)
        self.all_ready_s = time.perf_counter() - t

    def _fail(self, what: str) -> None:
        log = self._log()[-3000:]
        self.stop()
        raise RuntimeError(f"{what} (log follows):\n{log}")

    def _log(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def memory(self) -> dict:
        return service_memory(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def cold_start(index_dir: Path, runs: int, stream: QueryStream, searches: int) -> dict:
    """Process start to /ready of a real 1-worker `semsearch serve` (median of runs, file cache warm), and
    its resident memory after `searches` distinct searches."""
    import httpx

    times, loaded, memory = [], [], []
    for _ in range(runs):
        server = Server(index_dir, 1)
        try:
            times.append(server.ready_s)
            loaded.append(server.memory()["rss_total_mb"])
            with httpx.Client(base_url=server.base, timeout=60) as client:
                for q in stream.take(searches):
                    client.get("/search", params={"q": q}).raise_for_status()
            memory.append(server.memory()["rss_total_mb"])
        finally:
            server.stop()
    return {"cold_start_s": statistics.median(times), "rss_1_worker_loaded_mb": statistics.median(loaded),
            "rss_1_worker_mb": statistics.median(memory), "rss_after_searches": searches}


def http(index_dir: Path, workers: int, concurrencies: list[int], count: int, seconds: float,
         stream: QueryStream) -> dict:
    server = Server(index_dir, workers)
    try:
        rows = [_load(server.base, c, stream.take(count), seconds) for c in concurrencies]
        memory = server.memory()
    finally:
        server.stop()
    return {"workers": workers, "all_workers_ready_s": server.all_ready_s, "rows": rows, "memory": memory}


def _load(base: str, concurrency: int, queries: list[str], seconds: float) -> dict:
    """`concurrency` clients sharing the distinct `queries` (GET /search), stopping after `seconds`."""
    import httpx

    times: list[float] = []
    errors: dict[str, list[str]] = {}  # status code or exception -> the queries that got it
    lock = threading.Lock()
    sent = iter(queries)
    stop = time.time() + seconds

    def worker() -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            for q in sent:
                if time.time() > stop:
                    return
                t = time.perf_counter()
                try:
                    status = client.get("/search", params={"q": q}).status_code
                    outcome = "" if status == 200 else str(status)
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                with lock:
                    times.append(time.perf_counter() - t)
                    if outcome:
                        errors.setdefault(outcome, []).append(q)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return {"concurrency": concurrency, "requests": len(times), "errors": sum(map(len, errors.values())),
            "error_kinds": errors, "rps": len(times) / wall, **percentiles(times)}

