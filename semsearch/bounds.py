"""The bound on the length of a fiche's fields, which both export readers (text and JSON Lines) apply.

The longest field of the real exports has ~3,300 characters; a longer one is cut, with a warning, so that spaCy
never refuses a text (E088, over nlp.max_length: 1,000,000 characters). The longest text the analysis hands it is
the lexical "body" column, 16 fields joined (analysis.lexical_fields): 16 x 20,000 + 15 = 320,015 characters,
and nlp.clean's NFC can at most triple a text. A list field counts as its values joined by " ; ".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

from .records import Action, Evaluation

MAX_FIELD_CHARS = 20_000

_BOUNDED = ("title", *(f.name for f in fields(Action) if f.name not in ("id", "title", "evaluation", "extra")),
            *(f"evaluation.{f.name}" for f in fields(Evaluation)))


def bound(action: Action, file: str, warnings: list[str], line_of: Callable[[str], int],
          name_of: Callable[[str], str]) -> Action:
    """Cut each field over MAX_FIELD_CHARS, with a warning naming the fiche and the field's line.

    line_of and name_of give, for an attribute or an unknown label, the line and the name a warning shows.
    """
    for attr in _BOUNDED:
        owner, _, name = attr.rpartition(".")
        holder = action.evaluation if owner else action
        value = getattr(holder, name)
        size = len(" ; ".join(value)) if isinstance(value, list) else len(value)
        if size > MAX_FIELD_CHARS:
            setattr(holder, name, _cut(value))
            warnings.append(f"{file}:{line_of(attr)}: {name_of(attr)!r} de {action.title[:60]!r} a {size} "
                            f"caractères : coupé à {MAX_FIELD_CHARS}")
    for name, text in action.extra.items():
        if len(text) > MAX_FIELD_CHARS:
            action.extra[name] = text[:MAX_FIELD_CHARS]
            warnings.append(f"{file}:{line_of(name)}: {name!r} de {action.title[:60]!r} a {len(text)} "
                            f"caractères : coupé à {MAX_FIELD_CHARS}")
    return action


def _cut(value: str | list[str]) -> str | list[str]:
    if isinstance(value, str):
        return value[:MAX_FIELD_CHARS]
    kept: list[str] = []
    room = MAX_FIELD_CHARS  # characters left, counting the " ; " before the next value
    for item in value:
        if len(item) > room:
            if room > 0:
                kept.append(item[:room])
            break
        kept.append(item)
        room -= len(item) + 3
    return kept
