"""The text export's format: its French labels and headings, which lines are structure, and an Action rendered in it.

Everything French about the format lives here (LABELS), so later stages only see English attributes. The
renderer writes the layout of data/actions-maine-et-loire.txt; the parser (semsearch.corpus) reads it back
field-identical, which the round-trip test checks on generated fiches whose prose looks like structure.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from .records import Action

TEXT, LIST, ONE = "text", "list", "one"  # narrative lines / list of values / a single value

# Export label -> (Action attribute, kind). The one place where the export's French names are mapped.
LABELS: dict[str, tuple[str, str]] = {
    "Statut de l'action": ("status", ONE),
    "Raisons pour lesquelles l'action est terminée": ("end_reasons", TEXT),
    "Dimension": ("dimension", ONE),
    "Mots clés associés à l'action": ("keywords", LIST),
    "Résumé": ("summary", TEXT),
    "Structure organisatrice": ("structure", ONE),
    "Qui est à l'initiative de l'action ?": ("initiative", LIST),
    "Précision ( si autre )": ("initiative_detail", TEXT),
    "Description de l'expérience, ses objectifs, ses acteurs et ses différentes phases.": ("experience", TEXT),
    "Territoire concerné": ("territory", ONE),
    "Public": ("public", ONE),
    "Avec qui cette action a-t-elle été menée ?": ("partners", LIST),
    "Description générale": ("description", TEXT),
    "Ressources financières mobilisées pour cette action": ("budget", TEXT),
    "Nombre de personnes mobilisés pour cette action": ("people", TEXT),
    "Résultat sur le territoire": ("evaluation.territory", TEXT),
    "Résultat pour le centre social": ("evaluation.centre", TEXT),
    "Résultat pour les habitants": ("evaluation.residents", TEXT),
    "Suite de l'action : Limites": ("evaluation.limits", TEXT),
    "Suite de l'action : Perspectives": ("evaluation.perspectives", TEXT),
    "Fichier(s) associé(s)": ("files", LIST),
}
HEADINGS = (
    "DESCRIPTION DE L'ACTION",
    "RAISON D'ETRE DE L' ACTION",
    "METHODOLOGIE DE L' ACTION",
    "AUTO-EVALUATION DE L'ACTION",
    "FICHIERS ASSOCIES",
)
FIRST_HEADING = HEADINGS[0]  # the export always puts it right after `Actions "TITLE"`
HEADER = "Les actions des centres sociaux"
PARTNERS_HEADING = "Partenaires d'action:"  # sits between "Avec qui…" and the partner lines

KIND = {attr: kind for attr, kind in LABELS.values()}
LABEL_OF = {attr: label for label, (attr, _) in LABELS.items()}

# One fiche as the export lays it out: a heading, or the label of an attribute. The territory is written twice
# (the export asks for it in two sections); the two optional labels only appear when they have a value.
LAYOUT: tuple[str, ...] = (
    "DESCRIPTION DE L'ACTION", "status", "end_reasons", "dimension", "keywords", "summary", "structure",
    "RAISON D'ETRE DE L' ACTION", "initiative", "initiative_detail", "experience", "territory",
    "METHODOLOGIE DE L' ACTION", "public", "partners", "territory", "description", "budget", "people",
    "AUTO-EVALUATION DE L\u2019ACTION", "evaluation.territory", "evaluation.centre", "evaluation.residents",
    "evaluation.limits", "evaluation.perspectives",
    "FICHIERS ASSOCIES", "files",
)
OPTIONAL = {"end_reasons", "initiative_detail"}


def key(text: str) -> str:
    """Comparison form of a label or heading: exports vary in apostrophes, spacing and case."""
    text = unicodedata.normalize("NFC", text).replace("\u2019", "'").replace("\u2018", "'")
    return "".join(text.split()).casefold()


def _loose(label: str) -> str:
    """Regex for a label that tolerates the apostrophes and spacing that `key` ignores (not the case)."""
    parts = [r"\s*" if c.isspace() else "['\u2019\u2018]" if c in "'\u2019" else re.escape(c) for c in label]
    return "".join(parts)


LABEL_BY_KEY = {key(label): label for label in LABELS}
HEADING_KEYS = {key(h) for h in HEADINGS}
_FIRST_KEY = key(FIRST_HEADING)
_ONE_WORD = [label for label in LABELS if " " not in label]
_SEVERAL_WORDS = sorted(set(LABELS) - set(_ONE_WORD), key=len, reverse=True)
# The export sometimes drops the newline before a label, in these shapes only (data/ and the devplus exports):
# `médical.- Territoire concerné`, `approfondir- Suite de l'action : Perspectives`, `!"- Structure organisatrice`:
# the dash right after the text, one space, the whole label as the export spells it. A one-word label is also a
# prose word ("tout-public", "petite-dimension"), so it needs a sentence end or a closing quote or bracket too.
_GLUED_RES = (
    re.compile(rf"^(?P<before>.*[^\s-])-[ \t](?P<label>{'|'.join(map(_loose, _SEVERAL_WORDS))})$"),
    re.compile(rf"^(?P<before>.*[.!?…\"»”)\]])-[ \t](?P<label>{'|'.join(map(_loose, _ONE_WORD))})$"),
)
# Any other line ending in a dash and a label is kept where it is, with a warning.
_ANY_LABEL = "|".join(_loose(label) for label in sorted(LABELS, key=len, reverse=True))
LOOKS_GLUED_RE = re.compile(rf"-\s*(?P<label>{_ANY_LABEL})$")
RECORD_RE = re.compile(r'^Actions(?:\s*"(?P<title>.*)")?\s*$')
# Unknown labels are only trusted right after a section heading, where nothing but a label can stand;
# elsewhere `- Xxx :` is as likely to be a bullet of narrative text.
UNKNOWN_RE = re.compile(r"^-\s*(?P<label>[^-\s].{0,78}?)\s*(?P<mark>\?|:)$")


def opens_record(lines: list[str], no: int) -> bool:
    """Whether the first non-blank line after line `no` is the heading that opens every fiche of the export."""
    for i in range(no, len(lines)):  # lines[no] is the line after line `no`
        if lines[i].strip():
            return key(lines[i]) == _FIRST_KEY
    return False


def glued(line: str) -> tuple[str, str] | None:
    """(text, label) when the line ends in a label glued in one of the shapes the export glues them."""
    for glued_re in _GLUED_RES:
        if match := glued_re.match(line):
            return match["before"], LABEL_BY_KEY[key(match["label"])]
    return None


def render_export(actions: Iterable[Action]) -> str:
    """A whole export: the header line, then each fiche."""
    return "\n".join([HEADER, *(render(action) for action in actions)]) + "\n"


def render(action: Action) -> str:
    """One fiche in the export's layout. Unknown labels (Action.extra) have no place in it and are left out."""
    lines = [f'Actions "{action.title}"']
    for item in LAYOUT:
        if item in LABEL_OF:
            value = _value(action, item)
            if item in OPTIONAL and not value:
                continue
            lines.append(f"- {LABEL_OF[item]}")
            lines += _value_lines(item, value)
        else:
            lines.append(item)
    return "\n".join(lines)


def _value(action: Action, attr: str) -> str | list[str]:
    if attr == "structure":  # the parser splits the department off after the last " - "
        return f"{action.structure} - {action.department}" if action.department else action.structure
    owner, _, name = attr.rpartition(".")
    return getattr(action.evaluation if owner else action, name)


def _value_lines(attr: str, value: str | list[str]) -> list[str]:
    if KIND[attr] == TEXT:
        return value.split("\n") if value else []  # type: ignore[union-attr]
    if KIND[attr] == ONE:
        return [f"- {value}"] if value else []
    # A lone "-" opens the list of values; the partners list also carries its own heading.
    opening = ["-", PARTNERS_HEADING] if attr == "partners" else [] if attr == "files" else ["-"]
    return opening + [f"- {v}" for v in value]
