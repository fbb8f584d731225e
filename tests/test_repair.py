"""A damaged live build is repaired by the next reindex, never patched; every fault the CLI meets is one line.

Damage as it happens on disk: a fiche's record garbled inside a store that still opens, pages of the store
overwritten, a truncated lexical file. Disk faults (full, read-only) are raised where the build writes, as the
operating system raises them.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from semsearch import engine, index, jobs, loading, vectors
from semsearch.cli import main
from semsearch.config import Settings
from semsearch.corpus import read_jsonl
from semsearch.encoders import Encoder
from semsearch.errors import IndexDamagedError
from semsearch.nlp import FrenchNLP

ROOT = Path(__file__).resolve().parent.parent


def _live(index_dir: Path) -> Path:
    return (index_dir / "current").resolve()


def _garble_a_record(build: Path) -> str:
    """Rewrite one fiche's title inside the store, as a stray write would: the store still opens."""
    db = sqlite3.connect(build / "actions.sqlite")
    rowid, data = db.execute("SELECT rowid, data FROM actions LIMIT 1").fetchone()
    db.execute("UPDATE actions SET data = ? WHERE rowid = ?", (data.replace('"title": "', '"title": "XX'), rowid))
    db.commit()
    db.close()
    return data


def _overwrite_pages(build: Path) -> None:
    store = build / "actions.sqlite"
    data = bytearray(store.read_bytes())
    data[8192:16384] = b"\xa5" * 8192  # pages 3 and 4 (4 KiB pages), past the header
    store.write_bytes(bytes(data))


def _truncate_lexical(build: Path) -> None:
    lexical = build / "lexical.npz"
    lexical.write_bytes(lexical.read_bytes()[:200])


def _titles(index_dir: Path, encoder: Encoder, nlp: FrenchNLP) -> list[str]:
    searcher = engine.open_searcher(Settings.from_env({}, index_dir=index_dir), encoder)
    try:
        return [a.title for a in searcher.listing(limit=10).actions]
    finally:
        searcher.index.close()


@pytest.mark.parametrize("damage", [_garble_a_record, _overwrite_pages, _truncate_lexical])
def test_reindex_rebuilds_a_damaged_live_build_instead_of_patching_it(
        damage, index_dir: Path, small: dict, encoder: Encoder, nlp: FrenchNLP) -> None:
    before = _titles(index_dir, encoder, nlp)
    damage(_live(index_dir))
    manifest = index.build_index(read_jsonl(small["three"]), index_dir, encoder, nlp, progress=False)
    assert manifest.patched_from == ""  # a full build: nothing copied from the damaged one
    assert manifest.actions_reused == 3  # from the build cache, not re-analysed: the repair is cheap
    assert _titles(index_dir, encoder, nlp) == before
    loading.verify_live(index_dir)


def test_a_sound_live_build_is_patched_unless_full_is_asked(index_dir: Path, small: dict, encoder: Encoder,
                                                               nlp: FrenchNLP) -> None:
    corpus = read_jsonl(small["three"])
    assert index.build_index(corpus, index_dir, encoder, nlp, progress=False).patched_from
    assert index.build_index(corpus, index_dir, encoder, nlp, progress=False, full=True).patched_from == ""


def test_a_garbled_fiche_is_refused_at_start_up_not_served(index_dir: Path) -> None:
    _garble_a_record(_live(index_dir))
    with pytest.raises(IndexDamagedError, match="actions.sqlite a changé depuis sa construction"):
        loading.verify_live(index_dir)


@pytest.mark.parametrize("damage", [_overwrite_pages, _truncate_lexical])
def test_a_damaged_store_or_lexical_file_fails_to_load_with_one_message(damage, index_dir: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    damage(_live(index_dir))
    assert main(["--index", str(index_dir), "search", "jardin"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "index abîmé" in err and "semsearch reindex --full" in err


@pytest.mark.parametrize(("code", "fix"), [(errno.ENOSPC, "libérez de la place"), (errno.EROFS, "accessible en écriture"),
                                           (errno.EACCES, "accessible en écriture")])
def test_reindex_on_a_full_or_read_only_disk_is_one_line_and_keeps_the_live_index(
        code: int, fix: str, index_dir: Path, small: dict, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    live = _live(index_dir)

    def refused(directory: Path, *_args) -> None:
        raise OSError(code, "refused by the disk", str(directory / "chunk_vectors.npy"))

    monkeypatch.setattr(vectors, "write_chunks", refused)
    status = main(["reindex", "--quiet", "--full", "--source", str(small["two"]), "--out", str(index_dir)])
    err = capsys.readouterr().err
    assert status == 2
    assert [line for line in err.splitlines() if line.startswith("semsearch : erreur :")] == err.splitlines()[-1:]
    assert "Traceback" not in err and fix in err and "chunk_vectors.npy" in err and "l'index en service est inchangé" in err
    assert _live(index_dir) == live and not list((index_dir / "builds").glob(".tmp-*"))


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str],
                                                                      index_dir: Path) -> None:
    def bug(*_args, **_kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(engine, "open_searcher", bug)
    assert main(["--index", str(index_dir), "show", "x"]) == 1
    assert capsys.readouterr().err.strip() == ("semsearch : erreur : erreur inattendue ZeroDivisionError : "
                                               "division by zero (relancez avec --debug pour voir la trace)")
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "--index", str(index_dir), "show", "x"])


def _truncate_lexical_of_a_build_without_checksums(build: Path) -> None:
    _truncate_lexical(build)
    _forget_checksums(build)


@pytest.mark.parametrize("damage", [_overwrite_pages, _truncate_lexical, _garble_a_record,
                                    _truncate_lexical_of_a_build_without_checksums])
def test_serve_on_a_damaged_index_is_one_line_and_exit_3(damage, index_dir: Path) -> None:
    damage(_live(index_dir))
    done = subprocess.run([sys.executable, "-m", "semsearch.cli", "serve", "--port", "0", "--index",
                           str(index_dir)], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3
    assert "Traceback" not in done.stderr and "le service ne démarre pas" in done.stderr
    assert len([line for line in done.stderr.splitlines() if "erreur" in line]) == 1


def _forget_checksums(build: Path) -> None:
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    manifest.pop("files")
    (build / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_a_build_from_before_checksums_is_rebuilt_once_not_patched(index_dir: Path, small: dict, encoder: Encoder,
                                                                   nlp: FrenchNLP) -> None:
    """Every index live at the upgrade has no checksums: a garbled record there must not be patched forward."""
    before = _titles(index_dir, encoder, nlp)
    _garble_a_record(_live(index_dir))
    _forget_checksums(_live(index_dir))
    corpus = read_jsonl(small["three"])
    assert index.build_index(corpus, index_dir, encoder, nlp, progress=False).patched_from == ""
    assert _titles(index_dir, encoder, nlp) == before
    assert index.build_index(corpus, index_dir, encoder, nlp, progress=False).patched_from  # checksums now


@pytest.mark.parametrize("damage", ["dangling current", "garbage manifest"])
def test_a_broken_link_or_manifest_is_a_damaged_index(damage: str, index_dir: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    live = _live(index_dir)
    if damage == "dangling current":
        shutil.rmtree(live)
    else:
        (live / "manifest.json").write_text("{", encoding="utf-8")
    assert main(["--index", str(index_dir), "search", "jardin"]) == 3
    assert "semsearch reindex --full" in capsys.readouterr().err


def test_serve_with_another_encoder_than_the_index_is_one_line(index_dir: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "semsearch.cli", "--encoder", "multilingual-e5-small", "serve",
                           "--port", "0", "--index", str(index_dir)], check=False, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "le service ne démarre pas" in done.stderr and "construit avec l'encodeur" in done.stderr


def test_search_with_another_spacy_model_than_the_index_is_one_line(index_dir: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SEMSEARCH_SPACY_MODEL", "fr_core_news_lg")
    assert main(["--index", str(index_dir), "search", "jardin"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "construit avec le modèle spaCy" in err and "'fr_core_news_lg'" in err


def test_serve_with_another_spacy_model_than_the_index_is_one_line(index_dir: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "semsearch.cli", "serve", "--port", "0", "--index", str(index_dir)],
                          check=False, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "SEMSEARCH_SPACY_MODEL": "fr_core_news_lg"})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "le service ne démarre pas" in done.stderr and "construit avec le modèle spaCy" in done.stderr
    assert len([line for line in done.stderr.splitlines() if "erreur" in line]) == 1


def test_other_library_versions_are_logged_not_refused(index_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    manifest = json.loads((_live(index_dir) / "manifest.json").read_text(encoding="utf-8"))
    manifest["versions"]["numpy"] = "0.1"
    (_live(index_dir) / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="semsearch.loading"):
        loading.verify_live(index_dir, manifest["encoder"], manifest["spacy_model"])
        loading.load_index(index_dir, manifest["encoder"], manifest["spacy_model"]).close()
    assert caplog.text.count(f"numpy 0.1 -> {np.__version__}") == 2


def test_a_damaged_build_cache_is_set_aside_and_the_build_goes_on(index_dir: Path, small: dict, encoder: Encoder,
                                                                   nlp: FrenchNLP,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    (index_dir / index.CACHE_FILE).write_bytes(b"not a database at all" * 100)
    manifest = index.build_index(read_jsonl(small["two"]), index_dir, encoder, nlp, progress=False)
    assert manifest.actions == 2 and manifest.actions_reused == 0
    assert "cache de construction" in caplog.text and list(index_dir.glob("cache.sqlite.damaged-*"))
    loading.verify_live(index_dir)


def test_semsearch_reindex_waits_for_no_one_while_the_service_builds(index_dir: Path, small: dict,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    with jobs.exclusive(index_dir):  # as the child process of POST /admin/reindex holds it
        status = main(["reindex", "--quiet", "--source", str(small["two"]), "--out", str(index_dir)])
    assert status == 2 and "une construction de l'index est déjà en cours" in capsys.readouterr().err
