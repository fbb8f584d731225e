"""The judgment files of ../shared/eval: graded queries, queries nothing answers, "projets comparables".

    queries:  query<TAB>title=grade|title=grade|...   (grade 2: what the user looks for, 1: a useful neighbour)
    noanswer: one query per line
    similar:  title<TAB>title|title|...
Lines starting with # are comments. Titles are the fiches' titles as the export writes them; they are matched to
the index's actions by their folded text without surrounding quotes, and a title no action has is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import ParseError, os_problem
from ..words import fold


@dataclass(frozen=True)
class Judged:
    query: str
    grades: dict[str, int]  # action title -> grade; empty for a query nothing answers


def _lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ParseError(path, None, f"impossible de lire les jugements : {os_problem(exc)}") from exc
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start]
        raise ParseError(path, None, f"impossible de lire les jugements : pas en UTF-8 (octet 0x{byte:02x})") from exc
    return [(no, line) for no, line in enumerate(text.splitlines(), start=1) if line.strip() and not line.startswith("#")]


def _columns(path: Path) -> list[tuple[int, list[str]]]:
    rows = []
    for no, line in _lines(path):
        parts = line.split("\t")
        if len(parts) != 2:
            raise ParseError(path, no, "deux colonnes séparées par une tabulation attendues")
        rows.append((no, parts))
    return rows


def read_queries(path: Path) -> list[Judged]:
    out = []
    for no, (query, judged) in _columns(path):
        grades = {}
        for entry in judged.split("|"):
            title, sep, grade = entry.rpartition("=")
            if not sep or not grade.strip().isdigit():
                raise ParseError(path, no, f"jugement invalide {entry!r} ; titre=note attendu")
            grades[title.strip()] = int(grade)
        out.append(Judged(query.strip(), grades))
    return out


def read_noanswer(path: Path) -> list[Judged]:
    return [Judged(line.strip(), {}) for _, line in _lines(path)]


def read_similar(path: Path) -> list[Judged]:
    return [Judged(source.strip(), {t.strip(): 2 for t in targets.split("|")}) for _, (source, targets) in _columns(path)]


def title_key(title: str) -> str:
    """What a judged title and an action's title must share: the folded text, quotes and spaces around removed
    (the export writes `Actions "Défi Mode""`, the parser keeps `Défi Mode`, the judgments `Défi Mode"`)."""
    return " ".join(fold(title).strip(" \"'«»").split())


def resolve(judged: list[Judged], titles: Mapping[str, str], source: Path) -> list[Judged]:
    """The same judgments keyed by action id (`titles`: title -> id); an unknown title names the file."""
    by_key = {title_key(t): id_ for t, id_ in titles.items()}
    out = []
    for j in judged:
        grades = {}
        for title, grade in j.grades.items():
            if title_key(title) not in by_key:
                raise ParseError(source, None, f"aucune fiche intitulée {title!r} dans l'index")
            grades[by_key[title_key(title)]] = grade
        out.append(Judged(j.query, grades))
    return out
