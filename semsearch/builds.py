"""The builds directory of an index: which build is live, what dead builds left behind, and whether a build's
files are still the ones it wrote.

    index/current -> builds/<build id>     a symlink, replaced atomically by each successful build
    index/builds/<build id>/               a complete build (index.py writes it)
    index/builds/.tmp-<build id>/          a build being written, with the owner file naming its process
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from . import store
from .errors import IndexDamagedError, IndexMissingError

KEEP_BUILDS = 2  # the live build and the one before it, for a quick manual rollback
OWNER_FILE = ".owner"  # in a builds/.tmp-* directory: "host pid" of the process writing it
MANIFEST = "manifest.json"
CHUNK = 1 << 20
SQLITE_SIDE_FILES = ("-journal", "-wal", "-shm")  # SQLite's own, come and go


def point_current(index_dir: Path, build: Path) -> None:
    link = index_dir / "current"
    tmp_link = index_dir / f".current-{build.name}"
    tmp_link.unlink(missing_ok=True)
    os.symlink(build.relative_to(index_dir), tmp_link)
    os.replace(tmp_link, link)  # atomic on POSIX: readers see the old build or the new one, never neither


def current_build(index_dir: Path) -> Path:
    """The directory of the live build (or index_dir itself when it directly holds a build)."""
    link = index_dir / "current"
    if link.exists():
        return link.resolve()
    if link.is_symlink():
        raise IndexDamagedError(f"{link} pointe vers {os.readlink(link)}, qui n'existe pas ; reconstruisez l'index "
                                f"avec `semsearch reindex --full`, ou faites-le pointer vers une bonne construction de "
                                f"builds/")
    if (index_dir / MANIFEST).exists():
        return index_dir
    raise IndexMissingError(f"aucun index dans {index_dir} ; construisez-le avec `semsearch reindex --source FICHIER`")


def has_build(index_dir: Path) -> bool:
    """Whether a build is there (live or not loadable): `current` exists, even dangling, or a manifest."""
    return (index_dir / "current").is_symlink() or (index_dir / MANIFEST).exists()


def remove_stale_builds(builds: Path) -> None:
    """Delete the builds/.tmp-* directories of builds whose process died (SIGKILL, power loss): those
    written on this host by a process that no longer runs. A build still running here, or on another host
    sharing the directory, is left alone."""
    host = os.uname().nodename
    for tmp in builds.glob(".tmp-*"):
        try:
            owner_host, pid = (tmp / OWNER_FILE).read_text(encoding="utf-8").split()
            os.kill(int(pid), 0) if owner_host == host else None
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except (OSError, ValueError):
            continue  # no owner yet (being created), another user's process, or unreadable: keep it


def prune(builds: Path, keep: int = KEEP_BUILDS) -> None:
    done = sorted((p for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)
    for old in done[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def checksums(build: Path) -> dict[str, str]:
    """sha256 of every file of a build but its manifest, which records them."""
    out = {}
    for path in sorted(p for p in build.iterdir() if p.is_file() and p.name not in (MANIFEST, OWNER_FILE)
                       and not p.name.endswith(SQLITE_SIDE_FILES)):
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(CHUNK):
                digest.update(block)
        out[path.name] = digest.hexdigest()
    return out


def damage(build: Path, recorded: dict[str, str], store_file: str) -> str | None:
    """Why a build's files are not the ones it wrote, or None when they are: a file missing, added or changed
    since (its recorded checksum), or SQLite pages that fail `PRAGMA quick_check`. A build from before the
    checksums were recorded is only checked by SQLite."""
    if recorded:
        found = checksums(build)
        for name in sorted(recorded.keys() | found.keys()):
            if name not in found:
                return f"{name} manque"
            if recorded.get(name) != found[name]:
                return f"{name} a changé depuis sa construction"
    problem = store.quick_check(build / store_file)
    return f"{store_file}: {problem}" if problem else None
