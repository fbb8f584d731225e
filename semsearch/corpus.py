"""Read the fiches-actions export (text or JSONL) into Action records with stable ids.

The text export has no syntax beyond lines: `Actions "TITLE"` followed by the heading DESCRIPTION DE L'ACTION
starts a record, capitalised section headings group fields, and `- Label` lines from a known list start a field.
The labels, the headings and where the layout puts them live in semsearch.export, which says which lines are
structure; this module routes the other lines into fields. No line is dropped silently: what the parser could not place,
or kept where it was because it only looked like structure, is a warning "file:line: what was done".
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import export as fmt
from .bounds import bound
from .errors import ParseError, json_problem, os_problem
from .records import Action, Evaluation

ID_RE = re.compile(r"^[a-z0-9-]+$")
SLUG_MAX = 40


_HEADER_KEY, _PARTNERS_KEY = fmt.key(fmt.HEADER), fmt.key(fmt.PARTNERS_HEADING)


@dataclass
class Corpus:
    """The actions of one export, with what the loader had to fix or skip, and the file's fingerprint."""

    actions: list[Action]
    source: Path
    checksum: str  # sha256 of the file bytes: the index manifest records it to detect a changed export
    duplicates: int = 0  # exact duplicate records collapsed
    warnings: list[str] = field(default_factory=list)  # "file:line: message"
    # id of a fiche -> the export lines of its record and of the exact duplicates collapsed into it (the
    # duplicates report lists them; the manifest keeps them). Only fiches that had duplicates are keys.
    duplicate_lines: dict[str, list[int]] = field(default_factory=dict)


def load_actions(path: str | Path) -> Corpus:
    """Load an export: JSONL when the name ends in .jsonl, the text export otherwise."""
    path = Path(path)
    if path.suffix.lower() == ".jsonl":
        return read_jsonl(path)
    data = _read_bytes(path)
    corpus = parse_export(_decode(data, path), str(path))
    corpus.source, corpus.checksum = path, hashlib.sha256(data).hexdigest()
    return corpus


def parse_export(text: str, file: str = "<string>") -> Corpus:
    """Parse the text export; raises ParseError when it is not one, warns (file:line) on what it fixed.

    The checksum is that of the UTF-8 text; load_actions replaces it with the file's own bytes.
    """
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise ParseError(file, 1, "export vide")
    warnings: list[str] = []
    drafts = _split_records(text.split("\n"), file, warnings)
    rows = [(d.line, bound(_build(d, file, warnings), file, warnings, d.line_of, d.label_of)) for d in drafts]
    rows, copies = _collapse_duplicates(rows, file, warnings)
    actions = [action for _, action in rows]
    for action, action_id in zip(actions, make_ids(actions), strict=True):
        action.id = action_id
    checksum = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Corpus(actions, Path(file), checksum, _count(copies), warnings, _lines(rows, copies))


def read_jsonl(path: str | Path) -> Corpus:
    """Read one Action.to_dict() object per line; a missing id is computed as for the text export."""
    path = Path(path)
    data = _read_bytes(path)
    text = _decode(data, path).removeprefix("\ufeff")  # as the text export, a BOM from Windows editors is fine
    if not text.strip():
        raise ParseError(path, 1, "fichier vide")
    rows: list[tuple[int, Action]] = []
    given_ids: set[int] = set()  # lines whose object carried its id
    warnings: list[str] = []
    for no, line in enumerate(text.split("\n"), 1):
        if line.strip():
            action, given = _action_from_json(line, path, no)
            rows.append((no, bound(action, str(path), warnings, lambda _attr, no=no: no, str)))
            if given:
                given_ids.add(no)
    rows, copies = _collapse_duplicates(rows, str(path), warnings)
    actions = [action for _, action in rows]
    seen: dict[str, int] = {}
    for (no, action), computed in zip(rows, make_ids(actions), strict=True):
        if no not in given_ids:
            action.id = computed
        if action.id in seen:
            raise ParseError(path, no, f"champ 'id' : {action.id!r} déjà utilisé à la ligne {seen[action.id]}")
        seen[action.id] = no
    return Corpus(actions, path, hashlib.sha256(data).hexdigest(), _count(copies), warnings, _lines(rows, copies))


def write_jsonl(actions: Iterable[Action], path: str | Path) -> None:
    """Write the canonical JSONL form (one object a line, UTF-8); atomic so a reader never sees half."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as out:
        for action in actions:
            out.write(json.dumps(action.to_dict(), ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def slugify(title: str, max_len: int = SLUG_MAX) -> str:
    """ASCII, lowercase, hyphenated title, cut at a word boundary: readable in URLs and logs."""
    title = title.translate(str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss"}))
    ascii_ = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_).strip("-")
    if len(slug) > max_len:
        cut = slug.rfind("-", 0, max_len + 1)
        slug = slug[:cut] if cut > 0 else slug[:max_len]
    return slug or "action"


def make_ids(actions: Sequence[Action]) -> list[str]:
    """Stable ids, in order: slug + 6 hex of sha1(title, structure, department), then -2, -3 on clashes.

    The hash separates same-titled actions of different centres ("Atelier numérique"); only two records
    with the same title, structure and department get a suffix, which then depends on file order.
    """
    counts: dict[str, int] = {}
    ids = []
    for action in actions:
        basis = f"{action.title}\x1f{action.structure}\x1f{action.department}"
        base = f"{slugify(action.title)}-{hashlib.sha1(basis.encode('utf-8')).hexdigest()[:6]}"
        counts[base] = counts.get(base, 0) + 1
        ids.append(base if counts[base] == 1 else f"{base}-{counts[base]}")
    return ids


# --- text export ------------------------------------------------------------------------------------


@dataclass
class _Draft:
    """Raw lines of one record, per attribute, before they are turned into an Action."""

    line: int
    title: str
    values: dict[str, list[str]] = field(default_factory=dict)
    starts: dict[str, int] = field(default_factory=dict)  # attribute -> line of its label
    repeats: list[tuple[str, int, list[str]]] = field(default_factory=list)  # a label seen again
    extra: dict[str, list[str]] = field(default_factory=dict)

    def line_of(self, attr: str) -> int:
        """Line of an attribute's label, else of the record: where a warning about that field points."""
        return self.starts.get("structure" if attr == "department" else attr, self.line)

    def label_of(self, attr: str) -> str:
        return fmt.LABEL_OF.get("structure" if attr == "department" else attr, attr)

    def start(self, attr: str, no: int) -> list[str]:
        if attr in self.values:
            self.repeats.append((attr, no, []))
            return self.repeats[-1][2]
        self.starts[attr] = no
        return self.values.setdefault(attr, [])


def _split_records(lines: list[str], file: str, warnings: list[str]) -> list[_Draft]:
    """Walk the lines once, routing each content line to the field whose label came last."""
    marks, chosen, taken = fmt.structure(lines)
    drafts: list[_Draft] = []
    draft: _Draft | None = None
    target: list[str] | None = None  # lines of the field being read
    kind, attr, where = fmt.TEXT, "", ""  # kind, attribute and label of that field
    after_heading = False
    for no, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            if target is not None and kind == fmt.TEXT:
                target.append("")
            continue
        record = fmt.RECORD_RE.match(line)
        opens = bool(record) and fmt.opens_record(lines, no)
        if record and (opens or draft is None):
            title = (record["title"] or "").strip().strip('"').strip()
            if not title:
                raise ParseError(file, no, "fiche sans titre (Actions \"\")")
            if not opens:
                warnings.append(f"{file}:{no}: la fiche {title[:60]!r} n'est pas suivie de {fmt.FIRST_HEADING!r}")
            draft, target, after_heading = _Draft(no, title), None, False
            drafts.append(draft)
            continue
        if draft is None:
            if fmt.key(line) == _HEADER_KEY:
                continue
            raise ParseError(file, no, f"pas un export de fiches actions : 'Actions \"…\"' attendu, "
                                       f"{line[:60]!r} trouvé")
        found = marks[no - 1]
        if found and no in chosen:
            if found.before is not None:
                _add(target, kind, found.before, file, no, warnings)
            if found.attr:
                attr, kind, where = found.attr, fmt.KIND[found.attr], found.name
                target, after_heading = draft.start(attr, no), False
            else:
                target, after_heading = None, True
            continue
        if attr == "partners" and target == [] and fmt.key(line) == _PARTNERS_KEY:
            continue  # the export writes it between the partners label and the partners
        if found:
            if target is not None:
                other = f" (il y est à la ligne {taken[no]})" if no in taken else ""
                warnings.append(f"{file}:{no}: {found.name!r} n'est pas où l'export le met{other} : "
                                f"gardé comme texte de {where!r}")
        elif after_heading and (unknown := fmt.UNKNOWN_RE.match(line)):
            name = unknown["label"] + (" ?" if unknown["mark"] == "?" else "")
            warnings.append(f"{file}:{no}: libellé inconnu {name!r} gardé dans extra")
            attr, kind, where, target = "", fmt.TEXT, name, draft.extra.setdefault(name, [])
            after_heading = False
            continue
        elif target is not None and record:  # prose such as `Actions "Jeux en bois"` in a summary
            warnings.append(f"{file}:{no}: {line[:60]!r} n'est pas suivi de {fmt.FIRST_HEADING!r} : "
                            f"gardé comme texte de {where!r}, pas une nouvelle fiche")
        elif target is not None and (looks := fmt.LOOKS_GLUED_RE.search(line)):
            warnings.append(f"{file}:{no}: libellé {looks['label']!r} en fin de ligne, mais pas collé comme le fait "
                            f"l'export : gardé comme texte de {where!r}")
        after_heading = False
        _add(target, kind, line, file, no, warnings)
    if not drafts:
        last = max(no for no, line in enumerate(lines, 1) if line.strip())
        raise ParseError(file, last, "aucune fiche 'Actions \"…\"' dans l'export")
    return drafts


def _add(target: list[str] | None, kind: str, line: str, file: str, no: int, warnings: list[str]) -> None:
    """Content line: a value in list fields, a text line in narrative ones; a lone "-" separates."""
    if line == "-":
        return
    if target is None:
        warnings.append(f"{file}:{no}: texte hors de tout champ, ignoré : {line[:60]!r}")
    elif kind == fmt.TEXT:
        target.append(line)
    else:
        value = line.lstrip("-").strip() if line.startswith("-") else line
        if value:
            target.append(value)


def _text(lines: list[str]) -> str:
    return "\n".join(lines).strip("\n")


def _build(draft: _Draft, file: str, warnings: list[str]) -> Action:
    """Turn the raw lines of a record into an Action; a repeated label must repeat the same value."""
    values = draft.values
    for attr, no, lines in draft.repeats:  # only the territory has two places in the layout
        first, label = draft.starts[attr], fmt.LABEL_OF[attr]
        if lines == values[attr]:
            continue
        if not values[attr]:
            values[attr] = lines
            warnings.append(f"{file}:{no}: {label!r} est vide à la ligne {first} : gardé {_text(lines)[:40]!r}, "
                            f"la valeur d'ici")
        elif not lines:
            warnings.append(f"{file}:{no}: {label!r} est vide ici : gardé {_text(values[attr])[:40]!r}, "
                            f"la valeur de la ligne {first}")
        else:
            warnings.append(f"{file}:{no}: {label!r} diffère de la ligne {first} "
                            f"({_text(lines)[:40]!r} contre {_text(values[attr])[:40]!r}) ; la première valeur est gardée")
    fields_: dict[str, Any] = {}
    evaluation: dict[str, str] = {}
    for attr, lines in values.items():
        if fmt.KIND[attr] == fmt.LIST:
            value: Any = list(lines)
        elif fmt.KIND[attr] == fmt.TEXT:
            value = _text(lines)
        else:
            value = lines[0] if lines else ""
            if len(lines) > 1:
                warnings.append(
                    f"{file}:{draft.starts[attr]}: {fmt.LABEL_OF[attr]!r} a plusieurs valeurs : "
                    f"{lines[0]!r} gardée, {lines[1:]!r} ignorée(s)"
                )
        if attr.startswith("evaluation."):
            evaluation[attr.partition(".")[2]] = value
        else:
            fields_[attr] = value
    # "CENTRE SOCIAL X - Maine-et-Loire": the department is after the LAST " - " (names contain " - ").
    structure, sep, department = fields_.get("structure", "").rpartition(" - ")
    fields_["structure"], fields_["department"] = (structure.strip(), department.strip()) if sep else (department, "")
    extra = {name: _text(lines) for name, lines in draft.extra.items()}
    return Action(id="", title=draft.title, evaluation=Evaluation(**evaluation), extra=extra, **fields_)


def _collapse_duplicates(
    rows: list[tuple[int, Action]], file: str, warnings: list[str]
) -> tuple[list[tuple[int, Action]], dict[int, list[int]]]:
    """Drop records identical to an earlier one in every field but the id; the export repeats some.
    Returns the rows kept and, by the line of a kept record, the lines of the records dropped as its copies."""
    first_line: dict[str, int] = {}
    copies: dict[int, list[int]] = {}
    kept: list[tuple[int, Action]] = []
    for no, action in rows:
        content = action.to_dict()
        content.pop("id")
        fingerprint = json.dumps(content, sort_keys=True, ensure_ascii=False)
        if fingerprint in first_line:
            warnings.append(f"{file}:{no}: doublon exact de la fiche de la ligne {first_line[fingerprint]}, ignoré")
            copies.setdefault(first_line[fingerprint], []).append(no)
            continue
        first_line[fingerprint] = no
        kept.append((no, action))
    return kept, copies


def _count(copies: dict[int, list[int]]) -> int:
    return sum(len(lines) for lines in copies.values())


def _lines(rows: list[tuple[int, Action]], copies: dict[int, list[int]]) -> dict[str, list[int]]:
    """Corpus.duplicate_lines: id of each fiche that had exact duplicates -> its line, then theirs."""
    return {action.id: [no, *copies[no]] for no, action in rows if no in copies}


# --- files and JSONL ---------------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise ParseError(path, None, f"impossible de lire le fichier : {os_problem(err)}") from err


def _decode(data: bytes, file: str | Path) -> str:
    """UTF-8 or a ParseError naming the line of the first bad byte (exports saved as latin-1 happen)."""
    if not data.strip():
        raise ParseError(file, 1, "fichier vide")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ParseError(file, line, f"pas en UTF-8 (octet 0x{data[err.start]:02x}) ; réenregistrez l'export "
                                     f"en UTF-8") from None


_PROTOTYPE = Action(id="", title="").to_dict()  # expected JSON type of each field, from the defaults


def _action_from_json(line: str, file: Path, no: int) -> tuple[Action, bool]:
    """One JSONL line -> (Action, whether it carried its id); ParseError names the field at fault."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as err:
        raise ParseError(file, no, json_problem(err)) from None
    if not isinstance(data, dict):
        raise ParseError(file, no, "objet JSON attendu")
    unknown = sorted(set(data) - set(_PROTOTYPE))
    if unknown:
        raise ParseError(file, no, f"champ(s) inconnu(s) {unknown}")
    for name, value in data.items():
        reason = _type_error(name, value)
        if reason:
            raise ParseError(file, no, f"champ {name!r} : {reason}")
    if not data.get("title", "").strip():
        raise ParseError(file, no, "champ 'title' : absent ou vide")
    given = bool(data.get("id"))
    if given and not ID_RE.match(data["id"]):
        raise ParseError(file, no, f"champ 'id' : {data['id']!r} n'est pas fait que de minuscules, de chiffres "
                                   f"et de '-'")
    try:
        return Action.from_dict({**data, "id": data.get("id") or ""}), given
    except (TypeError, ValueError) as err:
        raise ParseError(file, no, str(err)) from None


def _type_error(name: str, value: object) -> str | None:
    """Why a JSON value does not fit the Action field, or None."""
    expected = _PROTOTYPE[name]
    if isinstance(expected, str):
        return None if isinstance(value, str) else "chaîne attendue"
    if isinstance(expected, list):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return None if ok else "liste de chaînes attendue"
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        return "objet de chaînes attendu"
    if name == "evaluation" and set(value) - set(expected):
        return f"clé(s) inconnue(s) {sorted(set(value) - set(expected))}"
    return None
