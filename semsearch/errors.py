"""One exception family, so the CLI and the API can map every failure to a clear message."""

from __future__ import annotations

import errno
import json
from pathlib import Path


class SemsearchError(Exception):
    """Base of every error the library raises on purpose; its message is meant for users."""


class ParseError(SemsearchError):
    """An export that cannot be read: names the file and, when known, the line."""

    def __init__(self, file: str | Path, line: int | None, reason: str) -> None:
        self.file, self.line, self.reason = str(file), line, reason
        where = f"{self.file}, ligne {line}" if line else self.file
        super().__init__(f"{where} : {reason}")


class IndexMissingError(SemsearchError):
    """No usable index where one was expected."""


class IndexDamagedError(IndexMissingError):
    """A build is there but its files are not the ones it wrote (truncated, changed, damaged pages)."""


class IndexNotLoaded(IndexMissingError):
    """A service that has no index loaded yet; `reason` is why the last load failed, None before any."""

    def __init__(self, reason: str | None) -> None:
        self.reason = reason
        why = f" : {reason}" if reason else ""
        super().__init__(f"aucun index chargé pour l'instant{why}")


class BuildError(SemsearchError):
    """A build that could not be written (disk full, read-only directory): names the path and the fix."""


class IndexMismatchError(SemsearchError):
    """The index was built with another encoder or format than the one asked for."""

    def __init__(self, what: str, expected: object, found: object, *, configurable: bool = True) -> None:
        self.what, self.expected, self.found = what, expected, found
        if configurable:
            super().__init__(f"l'index a été construit avec {what} {found!r}, mais {expected!r} est "
                             f"configuré ; reconstruisez-le avec `semsearch reindex` ou configurez {found!r}")
        else:  # the format: this code reads one only
            super().__init__(f"l'index a été construit avec {what} {found!r}, mais cette version de "
                             f"semsearch lit {expected!r} ; reconstruisez-le avec `semsearch reindex`")


class NotFound(SemsearchError):
    """An action id that the index does not hold."""

    def __init__(self, action_id: str) -> None:
        self.action_id = action_id
        super().__init__(f"aucune action n'a l'identifiant « {action_id} »")


class InvalidQuery(SemsearchError):
    """A search parameter with a bad value; names the parameter."""

    def __init__(self, parameter: str, reason: str) -> None:
        self.parameter, self.reason = parameter, reason
        super().__init__(f"paramètre « {parameter} » : {reason}")


# What the system's errors say, in French: the errno's own text (strerror) is English.
_OS_PROBLEMS = {
    errno.ENOENT: "fichier ou dossier introuvable",
    errno.EACCES: "permission refusée",
    errno.EPERM: "opération non permise",
    errno.EISDIR: "c'est un dossier, pas un fichier",
    errno.ENOTDIR: "un élément du chemin n'est pas un dossier",
    errno.ENOSPC: "plus de place sur le disque",
    errno.EROFS: "système de fichiers en lecture seule",
    errno.EEXIST: "existe déjà",
    errno.ELOOP: "trop de liens symboliques",
    errno.ENAMETOOLONG: "nom de fichier trop long",
    errno.EIO: "erreur d'entrée-sortie du disque",
    errno.EMFILE: "trop de fichiers ouverts",
    errno.ENOMEM: "mémoire insuffisante",
    errno.EDQUOT: "quota de disque dépassé",
}


def os_problem(exc: OSError) -> str:
    """Why a file operation failed, in French where the errno is a common one, else the system's own words."""
    return _OS_PROBLEMS.get(exc.errno, exc.strerror or str(exc)) if exc.errno is not None else str(exc)


# json.JSONDecodeError.msg, in French (Python 3.11 to 3.13 wordings, matched by their start).
_JSON_PROBLEMS = (
    ("Expecting value", "valeur attendue"),
    ("Expecting property name enclosed in double quotes", "nom de champ entre guillemets doubles attendu"),
    ("Expecting ':' delimiter", "deux-points « : » attendu"),
    ("Expecting ',' delimiter", "virgule « , » attendue"),
    ("Unterminated string starting at", "chaîne non terminée"),
    ("Invalid control character", "caractère de contrôle interdit dans une chaîne"),
    ("Invalid \\uXXXX escape", "échappement \\uXXXX invalide"),
    ("Invalid \\escape", "échappement « \\ » invalide"),
    ("Extra data", "texte en trop après la valeur JSON"),
    ("Illegal trailing comma", "virgule en trop avant la fin"),
)


def json_problem(exc: json.JSONDecodeError) -> str:
    """One French line for a JSON syntax error, with its column (the caller names the file and the line); a
    wording not known here is kept in parentheses."""
    said = next((french for english, french in _JSON_PROBLEMS if exc.msg.startswith(english)), None)
    return f"JSON invalide : {said} (colonne {exc.colno})" if said else \
        f"JSON invalide, colonne {exc.colno} ({exc.msg})"
