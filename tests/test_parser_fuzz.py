"""Hostile export files: random and mutated exports either parse into a Corpus or raise ParseError naming the
line; never another exception, never a hang (hypothesis deadline), and memory bounded on a huge file. And the
round trip: a fiche rendered in the export format parses back field-identical, whatever its prose looks like."""

from __future__ import annotations

import re
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semsearch.corpus import Corpus, load_actions, parse_export, read_jsonl, write_jsonl
from semsearch.errors import ParseError
from semsearch.export import HEADINGS, LABELS, PARTNERS_HEADING, key, render_export, rendered_lines
from semsearch.records import Action, Evaluation

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "actions-maine-et-loire.txt"
MINI = ROOT / "tests" / "data" / "mini-export.txt"
SAMPLE_LINES = SAMPLE.read_text(encoding="utf-8").split("\n")
MINI_TEXT = MINI.read_text(encoding="utf-8")
FUZZ = settings(max_examples=60, deadline=2000, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _parsed_or_clear_error(parse, *args) -> Corpus | ParseError:
    """The contract: a Corpus, or a ParseError whose message names the file (and its line when it has one)."""
    try:
        corpus = parse(*args)
    except ParseError as exc:
        assert exc.line is None or exc.line >= 1
        assert str(exc).startswith(exc.file) and exc.reason
        if exc.line:
            assert f", ligne {exc.line} : " in str(exc)
        return exc
    assert isinstance(corpus, Corpus)
    for action in corpus.actions:
        assert action.title and action.id
    assert len({a.id for a in corpus.actions}) == len(corpus.actions)
    return corpus


# -- text export: random and mutated -----------------------------------------------------------------
@FUZZ
@given(st.text(max_size=2000))
def test_random_text_parses_or_fails_with_a_line(text: str) -> None:
    _parsed_or_clear_error(parse_export, text, "random.txt")


@st.composite
def mutated_sample(draw: st.DrawFn) -> str:
    """A window of the real export, with lines dropped, duplicated, swapped, truncated or replaced."""
    start = draw(st.integers(0, len(SAMPLE_LINES) - 1))
    lines = SAMPLE_LINES[start:start + draw(st.integers(1, 150))]
    if draw(st.booleans()):
        lines = ['Actions "Début"', *lines]
    for _ in range(draw(st.integers(0, 8))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "dup", "swap", "cut", "junk", "record", "label"]))
        if op == "drop" and len(lines) > 1:
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "cut":
            lines[i] = lines[i][:draw(st.integers(0, max(0, len(lines[i]) - 1)))]
        elif op == "junk":
            lines[i] = draw(st.text(max_size=80))
        elif op == "record":
            lines.insert(i, draw(st.sampled_from(['Actions ""', "Actions", 'Actions "', 'Actions "x"y"'])))
        else:
            lines.insert(i, draw(st.sampled_from(["- Dimension", "- Public", "- Structure organisatrice",
                                                  "DESCRIPTION DE L'ACTION", "- Inconnu :", "-"])))
    cut = draw(st.integers(0, sum(len(x) + 1 for x in lines)))  # truncated file, maybe mid-line
    return "\n".join(lines)[:cut]


@FUZZ
@given(mutated_sample())
def test_mutated_exports_parse_or_fail_with_a_line(text: str) -> None:
    _parsed_or_clear_error(parse_export, text, "mutated.txt")


@FUZZ
@given(st.binary(max_size=4000), st.sampled_from([".txt", ".jsonl"]))
def test_binary_garbage_files_are_a_parse_error_or_a_corpus(tmp_path_factory: pytest.TempPathFactory,
                                                             data: bytes, suffix: str) -> None:
    path = tmp_path_factory.mktemp("garbage") / f"export{suffix}"
    path.write_bytes(data)
    _parsed_or_clear_error(load_actions, path)


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16", "utf-16-le", "cp1252", "utf-32"])
def test_other_encodings_are_refused_naming_the_line_of_the_first_bad_byte(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "export.txt"
    path.write_bytes(MINI_TEXT.encode(encoding, errors="replace"))  # latin-1 has no \u2019
    result = _parsed_or_clear_error(load_actions, path)
    assert isinstance(result, ParseError) and result.line is not None
    if encoding in ("latin-1", "cp1252"):  # ASCII until the first accented letter: that line is named
        first_accent = next(n for n, line in enumerate(MINI_TEXT.split("\n"), 1) if not line.isascii())
        assert result.line == first_accent and "UTF-8" in result.reason


def test_utf8_with_a_bom_and_crlf_line_ends_parses_like_the_plain_file(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    path.write_bytes(b"\xef\xbb\xbf" + MINI_TEXT.replace("\n", "\r\n").encode("utf-8"))
    assert [a.to_dict() for a in load_actions(path).actions] == [a.to_dict() for a in parse_export(MINI_TEXT).actions]


# -- JSON Lines: random and mutated -------------------------------------------------------------------
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
                           lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(st.text(max_size=12), children, max_size=4), max_leaves=12)


@FUZZ
@given(st.lists(st.one_of(st.text(max_size=200), json_values.map(repr)), max_size=8))
def test_random_jsonl_lines_parse_or_fail_with_a_line(tmp_path_factory: pytest.TempPathFactory,
                                                      lines: list[str]) -> None:
    path = tmp_path_factory.mktemp("jsonl") / "export.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    _parsed_or_clear_error(read_jsonl, path)


@FUZZ
@given(st.data())
def test_mutated_jsonl_records_parse_or_fail_with_a_line(tmp_path_factory: pytest.TempPathFactory,
                                                         data: st.DataObject) -> None:
    import json

    folder = tmp_path_factory.mktemp("jsonl")
    good = folder / "good.jsonl"
    write_jsonl(parse_export(MINI_TEXT).actions, good)
    records = [json.loads(line) for line in good.read_text(encoding="utf-8").splitlines()]
    record = data.draw(st.sampled_from(records))
    key = data.draw(st.sampled_from(sorted(record)))
    record = {**record, key: data.draw(json_values)}
    text = json.dumps(record, ensure_ascii=False)
    text = text[:data.draw(st.integers(0, len(text)))]  # maybe truncated mid-record
    path = folder / "export.jsonl"
    path.write_text(text + "\n", encoding="utf-8", errors="surrogatepass")
    _parsed_or_clear_error(read_jsonl, path)


# -- huge files: bounded time and memory --------------------------------------------------------------
def test_100000_duplicated_lines_of_a_record_stay_bounded_in_time_and_memory(tmp_path: Path) -> None:
    """One record whose summary line is repeated 100 000 times (~10 MB), then 100 000 copies of a whole
    record line-set would be the same work: the parse is linear and its peak a small multiple of the file."""
    lines = MINI_TEXT.split("\n")
    at = next(i for i, line in enumerate(lines) if line.strip() == "- Résumé") + 1
    huge = lines[:at + 1] + [lines[at]] * 100_000 + lines[at + 1:]
    path = tmp_path / "huge.txt"
    path.write_text("\n".join(huge), encoding="utf-8")
    size = path.stat().st_size
    corpus, elapsed, peak = _load_measured(path)
    assert corpus.actions and elapsed < 30, elapsed
    assert peak < 200 * 2**20 and peak < 20 * size, (peak, size)


def test_100000_duplicated_records_collapse_in_bounded_time_and_memory(tmp_path: Path) -> None:
    record = MINI_TEXT.split("\n")
    start = next(i for i, line in enumerate(record) if line.startswith("Actions"))
    end = next(i for i, line in enumerate(record) if i > start and line.startswith("Actions"))
    one = record[start:end]
    copies = max(1, 100_000 // len(one))  # 100 000 lines in all, made of copies of one record
    path = tmp_path / "dups.txt"
    path.write_text("\n".join(one * copies), encoding="utf-8")
    corpus, elapsed, peak = _load_measured(path)
    assert len(corpus.actions) == 1 and corpus.duplicates == copies - 1
    assert elapsed < 60 and peak < 200 * 2**20, peak


def _load_measured(path: Path) -> tuple[Corpus, float, int]:
    """Parse a file; return the corpus, the seconds it took (a hang guard, not a benchmark) and peak bytes."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        corpus = load_actions(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return corpus, time.monotonic() - started, peak


# -- round trip: render, parse, same fields --------------------------------------------------------------
def test_the_sample_rendered_in_the_export_format_parses_back_identical() -> None:
    sample = load_actions(SAMPLE).actions
    back = parse_export(render_export(sample), "rendered.txt")
    assert back.actions == sample and back.warnings == []


# Prose made of what looks like structure: label words, hyphenated "-public", quotes, glue-like dashes.
WORDS = st.sampled_from([
    "Une", "fête", "ouverte", "à", "tout-public", "jeune-public", "grand", "-", "public", "Public", "Résumé",
    "Dimension", "petite-dimension", "Territoire concerné", "Structure organisatrice", "Description générale",
    "Suite de l'action : Perspectives", "Statut de l'action", "Actions", '"Jeux en bois"', "«", "»", '"', "'",
    "aujourd’hui", ".", "!", "?", "…", ":", "(CAF)", "médical.-", "approfondir-", '!"-', "- Public", "DESCRIPTION",
    "DE", "L'ACTION", "Partenaires d'action:", "Les actions des centres sociaux", "12", "€",
])
_LABEL_KEYS = {key(label) for label in LABELS}
_STRUCTURE_KEYS = {key(h) for h in HEADINGS} | {key(PARTNERS_HEADING)}
_SEVERAL = "|".join(re.escape(label) for label in LABELS if " " in label)
_ONE_WORD = "|".join(re.escape(label) for label in LABELS if " " not in label)
# The glued shapes docs/OPERATIONS.md states: a several-word label after any text, a one-word one after a
# sentence end or a closing quote or bracket.
_GLUED_SHAPES = (re.compile(rf"[^\s-]-[ \t](?:{_SEVERAL})$"), re.compile(rf"[.!?…\"»”)\]]-[ \t](?:{_ONE_WORD})$"))


def _reserved(line: str) -> bool:
    """A line the format itself gives a meaning to, in whatever field it stands: a lone dash, a heading, a label
    line, text ending in a label glued as the export glues them. No export can carry such a line as prose."""
    return (line == "-" or key(line) in _STRUCTURE_KEYS or (line.startswith("-") and key(line[1:]) in _LABEL_KEYS)
            or any(shape.search(line) for shape in _GLUED_SHAPES))


_phrase = st.lists(WORDS, min_size=1, max_size=8).map(" ".join)
_prose_line = st.one_of(_phrase, _phrase.map(lambda p: f'Actions "{p}"'), st.just("")).filter(lambda x: not _reserved(x))
_text = st.lists(_prose_line, max_size=5).map(lambda lines: "\n".join(lines).strip("\n"))
_value = _phrase.filter(lambda v: not _reserved(f"- {v}"))
_one = st.one_of(st.just(""), _value)


@st.composite
def fiches(draw: st.DrawFn, text: st.SearchStrategy[str] = _text) -> list[Action]:
    titles = draw(st.lists(_phrase.filter(lambda t: t == t.strip('"').strip()), min_size=1, max_size=2, unique=True))
    return [Action(
        id="", title=title, status=draw(_one), end_reasons=draw(text), dimension=draw(_one),
        keywords=draw(st.lists(_value, max_size=3)), summary=draw(text), structure=draw(_value),
        department=draw(st.sampled_from(["Maine-et-Loire", "Loire-Atlantique"])),
        initiative=draw(st.lists(_value, max_size=2)), initiative_detail=draw(text), experience=draw(text),
        territory=draw(_one), public=draw(_one), partners=draw(st.lists(_value, max_size=3)),
        description=draw(text), budget=draw(text), people=draw(text),
        evaluation=Evaluation(*(draw(text) for _ in range(5))), files=draw(st.lists(_value, max_size=2)),
    ) for title in titles]


ROUND_TRIP = settings(max_examples=200, deadline=None, database=None, derandomize=True,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@ROUND_TRIP
@given(fiches())
def test_a_rendered_fiche_parses_back_field_identical(actions: list[Action]) -> None:
    corpus = parse_export(render_export(actions), "rendered.txt")
    assert [{**a.to_dict(), "id": ""} for a in corpus.actions] == [a.to_dict() for a in actions]
    # what looked like structure was kept and said so; nothing was ignored or overridden
    assert not [w for w in corpus.warnings if "gardé comme texte" not in w], corpus.warnings


# Narrative lines that are structure where the layout puts them: each label line, each heading but the first (after
# an `Actions "…"` line it opens a fiche, which is what it means), and a text with any label glued to it.
_GLUED_TRAP = st.tuples(_phrase, st.sampled_from([".", '!"', ")", ""]), st.sampled_from(sorted(LABELS)))
_trap = st.one_of(st.sampled_from([*(f"- {label}" for label in LABELS), *HEADINGS[1:], "AUTO-EVALUATION DE L’ACTION",
                                   PARTNERS_HEADING]), _GLUED_TRAP.map(lambda t: f"{t[0]}{t[1]}- {t[2]}"))
_trapped_text = st.lists(st.one_of(_prose_line, _trap), max_size=5).map(lambda lines: "\n".join(lines).strip("\n"))


def _fields(action: Action) -> dict[str, object]:
    fields = {**action.to_dict(), "id": ""}
    evaluation = fields.pop("evaluation")
    return {**fields, **{f"evaluation.{name}": value for name, value in evaluation.items()}}


@ROUND_TRIP
@given(fiches(_trapped_text))
def test_prose_that_is_structure_elsewhere_comes_back_in_its_field_or_is_named(actions: list[Action]) -> None:
    """Nothing is lost: each field comes back identical, or a warning names a line of its fiche that the
    layout would take for structure (where the parser took it, or where it kept it as text)."""
    corpus = parse_export(render_export(actions), "rendered.txt")
    assert [a.title for a in corpus.actions] == [a.title for a in actions]
    owners = [(i, attr, line) for i, action in enumerate(actions) for attr, line in rendered_lines(action)]
    for i, (back, action) in enumerate(zip(corpus.actions, actions, strict=True)):
        got, want = _fields(back), _fields(action)
        if got == want:
            continue
        traps = [no for no, (j, attr, line) in enumerate(owners, 2) if j == i and attr and _reserved(line)]
        named = [w for w in corpus.warnings if any(re.search(rf"^rendered\.txt:{no}:|\bligne {no}\b", w) for no in traps)]
        assert named, ([name for name in want if got[name] != want[name]], corpus.warnings)
