"""One exception family, so the CLI and the API can map every failure to a clear message."""

from __future__ import annotations

from pathlib import Path


class SemsearchError(Exception):
    """Base of every error the library raises on purpose; its message is meant for users."""


class ParseError(SemsearchError):
    """An export that cannot be read: names the file and, when known, the line."""

    def __init__(self, file: str | Path, line: int | None, reason: str) -> None:
        self.file, self.line, self.reason = str(file), line, reason
        where = f"{self.file}, line {line}" if line else self.file
        super().__init__(f"{where}: {reason}")


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

    def __init__(self, what: str, expected: object, found: object) -> None:
        self.what, self.expected, self.found = what, expected, found
        super().__init__(
            f"l'index a été construit avec {what} {found!r}, mais {expected!r} est configuré ; "
            f"reconstruisez-le avec `semsearch reindex` ou configurez {found!r}"
        )


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
