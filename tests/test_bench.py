"""The benchmark runs end to end at a smoke size and writes its rows (no timing assertions: see STYLE.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_smoke_writes_json_and_markdown_rows(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), "--smoke", "--out", str(tmp_path)],
                   cwd=ROOT, check=True, capture_output=True, timeout=300)
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert [r["n"] for r in rows] == [40]
    row = rows[0]
    assert row["chunks"] > 40 and row["reindex_5_changed_embedded"] > 0
    assert set(row["latency_ms"]) == {"hybrid", "hybrid+filter", "semantic", "semantic+filter", "lexical",
                                      "lexical+filter", "similar"}
    assert all(p["p50"] > 0 for p in row["latency_ms"].values())
    table = (tmp_path / "results.md").read_text()
    assert "| 40 | hybrid |" in table and "--smoke" in table
