"""The docs name files that exist: every repository path and every module they mention (a renamed or deleted file
whose doc still points to it fails here)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "models" / "README.md",
        ROOT / "index" / "README.md"]
# A path under one of the repository's own folders, as prose or code writes it.
PATH = re.compile(r"(?<![\w/.-])((?:semsearch|scripts|tests|api|docs|models|eval|data)/[\w./-]*\w\.(?:py|md|json|js|"
                  r"html|css|tsv|txt|toml))\b")
# A module named alone, in backquotes: `fusion.py`.
MODULE = re.compile(r"`([a-z_][a-z0-9_]*\.py)`")
GENERATED = {"models/multilingual-e5-small-onnx/source.json"}  # written at the first load


def _tracked() -> set[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return set(listed.split())


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_and_module_a_doc_names_exists(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    tracked = _tracked()
    modules = {Path(p).name for p in tracked if p.endswith(".py")}
    missing = sorted({p for p in PATH.findall(text) if not (ROOT / p).exists() and p not in GENERATED}
                     | {m for m in MODULE.findall(text) if m not in modules})
    assert missing == [], f"{doc.name} names what does not exist"


def test_the_check_sees_a_missing_path() -> None:
    assert PATH.findall("see semsearch/nowhere.py and `docs/QUALITY.md`") == ["semsearch/nowhere.py", "docs/QUALITY.md"]
    assert MODULE.findall("`fusion.py` and `nowhere.py`") == ["fusion.py", "nowhere.py"]
