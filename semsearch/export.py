"""The text export's format: its French labels and headings, which lines may be structure and where the layout puts
them, and an Action rendered in it.

Everything French about the format lives here (LABELS), so later stages only see English attributes. The
renderer writes the layout of data/actions-maine-et-loire.txt; the parser (semsearch.corpus) reads it back
field-identical, which the round-trip tests check on generated fiches whose prose looks like structure.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

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


def _layout_places() -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
    """Where each heading (by key) and attribute stands in LAYOUT, the territory twice; and for each place the place
    of the heading of its section."""
    places: dict[str, tuple[int, ...]] = {}
    sections: list[int] = []
    for place, item in enumerate(LAYOUT):
        name = item if item in LABEL_OF else key(item)
        places[name] = (*places.get(name, ()), place)
        sections.append(sections[-1] if item in LABEL_OF else place)
    return places, tuple(sections)


_PLACES, _SECTION = _layout_places()


@dataclass(frozen=True)
class Mark:
    """A line that may be structure: a heading, a `- Label` line, or a text ending in a glued label."""

    name: str  # the heading or the label, as the export spells it
    attr: str  # the attribute the label starts; "" for a heading
    places: tuple[int, ...]  # where the layout puts it
    before: str | None = None  # the text before a glued label

    @property
    def weak(self) -> bool:
        """Whether a later mark of the same place is the structure rather than this one: a heading or a glued label
        has no text of its own, and a single value or a list does not hold its own label line; a narrative text
        may repeat its label, so of two such labels the first is the structure."""
        return not self.attr or self.before is not None or KIND[self.attr] != TEXT


def mark(line: str) -> Mark | None:
    """The heading or label a (stripped) line may be, wherever it stands."""
    line_key = key(line)
    if line_key in HEADING_KEYS:
        return Mark(line, "", _PLACES[line_key])
    label, before = LABEL_BY_KEY.get(line_key[1:]) if line.startswith("-") else None, None
    if label is None and (found := glued(line)):
        before, label = found
    if label is None:
        return None
    attr = LABELS[label][0]
    return Mark(label, attr, _PLACES[attr], before)


def follows(before: int, place: int, glue: bool = False) -> bool:
    """Whether a fiche can have `place` (an index in LAYOUT) after `before` (-1: its start) with no structure
    between: a heading after the headings before it, a label in the section being read after the labels before it
    there, and a glued label only after a narrative text or a heading (the text it is glued to is that field's)."""
    if place <= before:
        return False
    if glue and before >= 0 and LAYOUT[before] in KIND and KIND[LAYOUT[before]] != TEXT:
        return False
    return LAYOUT[place] not in LABEL_OF or _SECTION[place] == _SECTION[max(before, 0)]


# For each place in the layout, and whether the mark is glued: the places that can come right before it (-1: none).
_BEFORE = {(place, glue): [q for q in range(-1, place) if follows(q, place, glue)]
           for place in range(len(LAYOUT)) for glue in (False, True)}


def structure(lines: list[str]) -> tuple[list[Mark | None], set[int], dict[int, int]]:
    """Each line's mark (what structure it may be); the line numbers of the marks that are structure; and, for a
    mark that is not, the line of one of the same place that is."""
    marks: list[Mark | None] = []
    starts: list[int] = []  # lines that start a fiche
    for no, raw in enumerate(lines, 1):
        line = raw.strip()
        record = RECORD_RE.match(line)
        if record and (not starts or opens_record(lines, no)):
            starts.append(no)
        marks.append(mark(line) if line and not record else None)
    chosen: set[int] = set()
    taken: dict[int, int] = {}
    for start, end in pairwise([*starts, len(lines) + 1]):
        fiche = [(no, found) for no in range(start, end) if (found := marks[no - 1])]
        placed = _choose(fiche)
        chosen |= set(placed)
        line_at = {place: no for no, place in placed.items()}
        taken |= {no: line_at[p] for no, found in fiche if no not in placed for p in found.places if p in line_at}
    return marks, chosen, taken


def _choose(marks: list[tuple[int, Mark]]) -> dict[int, int]:
    """Line -> place in the layout of the marks of one fiche that are structure: the series the layout allows
    (follows) with the most marks, an optional label counting half as the export writes every other one; so prose
    that looks like a label or a heading never takes the place of the one the fiche gives, wherever it stands.
    Of two marks that could take the same place, the later one when the earlier is weak (Mark.weak) and a field
    comes before them to keep it as text, else the earlier."""
    best: dict[int, tuple[int, int]] = {-1: (0, -1)}  # place -> (score of the best series ending there, its mark)
    links: list[tuple[int, int]] = []  # per mark: its place and the mark before it in its series (-1: none)
    end = (0, -1)
    for i, (_, found) in enumerate(marks):
        score, place, link = 0, -1, -1
        for p in found.places:
            before = max((best[q] for q in _BEFORE[p, found.before is not None] if q in best), default=None)
            if before is not None and before[0] + (1 if LAYOUT[p] in OPTIONAL else 2) > score:
                score, place, link = before[0] + (1 if LAYOUT[p] in OPTIONAL else 2), p, before[1]
        links.append((place, link))
        if not score:
            continue
        after_field = link >= 0 and LAYOUT[links[link][0]] in LABEL_OF
        held = best.get(place)
        if held is None or score > held[0] or (score == held[0] and after_field and marks[held[1]][1].weak):
            best[place] = (score, i)
        if score > end[0] or (score == end[0] and after_field and marks[end[1]][1].weak):
            end = (score, i)
    placed: dict[int, int] = {}
    i = end[1]
    while i >= 0:
        placed[marks[i][0]] = links[i][0]
        i = links[i][1]
    return placed


def render_export(actions: Iterable[Action]) -> str:
    """A whole export: the header line, then each fiche."""
    return "\n".join([HEADER, *(render(action) for action in actions)]) + "\n"


def render(action: Action) -> str:
    """One fiche in the export's layout. Unknown labels (Action.extra) have no place in it and are left out."""
    return "\n".join(line for _, line in rendered_lines(action))


def rendered_lines(action: Action) -> list[tuple[str, str]]:
    """The lines of render(action), each with the attribute whose value it carries ("" for the structure)."""
    lines = [("", f'Actions "{action.title}"')]
    for item in LAYOUT:
        if item in LABEL_OF:
            value = _value(action, item)
            if item in OPTIONAL and not value:
                continue
            lines.append(("", f"- {LABEL_OF[item]}"))
            values = _value_lines(item, value)
            opening = len(values) - len(value) if KIND[item] == LIST else 0  # "-", the partners heading
            lines += [("" if i < opening else item, line) for i, line in enumerate(values)]
        else:
            lines.append(("", item))
    return lines


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
