"""What the text-export parser keeps, reports and bounds: prose that looks like structure stays in its field with
a warning naming the line, `semsearch reindex` prints the warnings (and --strict refuses them), over-long fields
are cut so that spaCy never refuses a text, and a JSONL export may start with a BOM."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from semsearch.analysis import lexical_fields
from semsearch.chunking import SECTIONS, overview
from semsearch.cli import main
from semsearch.corpus import MAX_FIELD_CHARS, load_actions, parse_export, read_jsonl, write_jsonl
from semsearch.nlp import clean
from semsearch.records import Action

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "actions-maine-et-loire.txt"
SUMMARY_LINE = 12  # line of {summary} in FICHE
FICHE = """Les actions des centres sociaux
Actions "Fête de quartier"
DESCRIPTION DE L'ACTION
- Statut de l'action
- En cours
- Dimension
- Animation
- Mots clés associés à l'action
-
- Culture
- Résumé
{summary}
- Structure organisatrice
- CENTRE SOCIAL A - Maine-et-Loire
RAISON D'ETRE DE L' ACTION
- Territoire concerné
- Un quartier
METHODOLOGIE DE L' ACTION
- Public
- Familles
- Description générale
Un après-midi de jeux.
"""


def _fiche(summary: str) -> tuple[Action, list[str]]:
    corpus = parse_export(FICHE.format(summary=summary), "fete.txt")
    assert len(corpus.actions) == 1
    return corpus.actions[0], corpus.warnings


# -- prose that looks like a glued label ---------------------------------------------------------------
@pytest.mark.parametrize("summary", [
    "Une grande fête ouverte à tout-public",
    "Un atelier pour le jeune-public",
    "Un spectacle pour le grand - public",
    "Une action de petite-dimension",
    "Les ateliers du mercredi.\nVoir le détail plus bas - Résumé",
    "Une fête pour tout le quartier- Public",
    "Un goûter ouvert à tous - Public",
])
def test_prose_ending_in_a_label_word_stays_in_its_field(summary: str) -> None:
    action, _ = _fiche(summary)
    assert action.summary == summary
    assert (action.public, action.dimension, action.territory) == ("Familles", "Animation", "Un quartier")
    assert action.description == "Un après-midi de jeux."


@pytest.mark.parametrize("summary", [
    "Un spectacle pour le grand - Public",
    "Une fête pour tout le quartier- Public",
    "Voir la fiche - Structure organisatrice",
])
def test_a_line_that_only_looks_like_a_glued_label_is_kept_and_reported(summary: str) -> None:
    action, warnings = _fiche(summary)
    assert action.summary == summary and action.structure == "CENTRE SOCIAL A"
    assert len(warnings) == 1 and warnings[0].startswith(f"fete.txt:{SUMMARY_LINE}: ")
    assert "kept as text of 'Résumé'" in warnings[0]


@pytest.mark.parametrize(("glued", "before", "value", "path"), [  # the shapes data/ and devplus show
    ("du social, médicosocial, médical.- Territoire concerné", "médical.", "- Un quartier", "territory"),
    ("le relais et approfondir- Suite de l'action : Perspectives", "approfondir", "Rien.", "evaluation.perspectives"),
    ('envoyons de la bienveillance !"- Structure organisatrice', 'bienveillance !"', "- CS A - Anjou", "structure"),
    ("Une fête pour le grand public.- Public", "grand public.", "- Familles", "public"),
    ("Un stand (voir photos)- Dimension", "photos)", "- Animation", "dimension"),
])
def test_a_label_glued_where_the_export_glues_it_is_split_off(glued: str, before: str, value: str, path: str) -> None:
    text = f'Actions "A"\nDESCRIPTION DE L\'ACTION\n- Résumé\nUn.\n{glued}\n{value}\n'
    corpus = parse_export(text, "glued.txt")
    action = corpus.actions[0]
    assert action.summary == "Un.\n" + glued.rsplit("- ", 1)[0] and action.summary.endswith(before)
    assert corpus.warnings == []
    owner, _, name = path.rpartition(".")
    assert getattr(action.evaluation if owner else action, name) == value.removeprefix("- ").removesuffix(" - Anjou")


# -- `Actions "…"` in prose ---------------------------------------------------------------------------
def test_an_actions_line_in_prose_is_kept_in_its_field_not_a_new_fiche() -> None:
    action, warnings = _fiche('Ils ont fabriqué des jeux :\nActions "Jeux en bois"\npuis les ont vendus.')
    assert action.summary == 'Ils ont fabriqué des jeux :\nActions "Jeux en bois"\npuis les ont vendus.'
    assert action.public == "Familles"
    assert len(warnings) == 1 and warnings[0].startswith(f"fete.txt:{SUMMARY_LINE + 1}: ")
    assert "DESCRIPTION DE L'ACTION" in warnings[0] and "kept as text of 'Résumé'" in warnings[0]


def test_the_sample_with_an_actions_line_in_a_summary_keeps_its_24_fiches() -> None:
    lines = SAMPLE.read_text(encoding="utf-8").split("\n")
    at = lines.index("- Résumé") + 2  # inside the summary of "Séjour Adultes"
    lines.insert(at, 'Actions "Jeux en bois"')
    corpus = parse_export("\n".join(lines), "sample.txt")
    sample = load_actions(SAMPLE)
    assert [a.title for a in corpus.actions] == [a.title for a in sample.actions]
    sejour = corpus.actions[0]
    assert 'Actions "Jeux en bois"' in sejour.summary.split("\n")
    assert (sejour.structure, sejour.department, sejour.public) == (
        "CENTRE SOCIOCULTUREL COIN DE LA RUE", "Maine-et-Loire", "Adultes")
    assert len(corpus.warnings) == len(sample.warnings) + 1
    assert any(w.startswith(f"sample.txt:{at + 1}: ") for w in corpus.warnings)


def test_an_actions_line_then_a_blank_line_then_the_heading_starts_a_fiche() -> None:
    text = FICHE.format(summary="Un.") + '\nActions "Deuxième"\n\nDESCRIPTION DE L\'ACTION\n- Résumé\nDeux.\n'
    corpus = parse_export(text, "two.txt")
    assert [a.title for a in corpus.actions] == ["Fête de quartier", "Deuxième"] and corpus.warnings == []


# -- warnings reach the user; --strict refuses them -----------------------------------------------------
@pytest.fixture
def warned_export(tmp_path: Path) -> Path:
    path = tmp_path / "fete.txt"
    path.write_text(FICHE.format(summary='Voir la fiche - Structure organisatrice\nActions "Jeux"'), encoding="utf-8")
    return path


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Stands in for the build: records the sources it was asked to index."""
    calls: list[Path] = []

    def rebuild(settings, *args, **kwargs):
        calls.append(settings.source)
        return SimpleNamespace(build_id="b1", actions=1, duplicates=0, chunks=3, encoder="e")

    monkeypatch.setattr("semsearch.engine.rebuild", rebuild)
    return calls


def test_reindex_prints_each_warning_on_stderr_then_a_count(
        warned_export: Path, builds: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reindex", "--source", str(warned_export), "--out", str(tmp_path / "idx"), "--quiet"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert builds == [warned_export]
    assert len(err) == 3 and "Traceback" not in "".join(err)
    assert err[0].startswith(f"semsearch: warning: {warned_export}:{SUMMARY_LINE}: ")
    assert err[1].startswith(f"semsearch: warning: {warned_export}:{SUMMARY_LINE + 1}: ")
    assert "2 warning(s)" in err[2]


def test_reindex_strict_refuses_an_export_with_warnings_before_building(
        warned_export: Path, builds: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reindex", "--source", str(warned_export), "--out", str(tmp_path / "idx"), "--strict"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert builds == [] and not (tmp_path / "idx").exists()
    assert len(err) == 3 and err[-1].startswith("semsearch: error: ") and "--strict" in err[-1]


def test_reindex_strict_builds_an_export_without_warnings(
        builds: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "fete.txt"
    path.write_text(FICHE.format(summary="Un après-midi."), encoding="utf-8")
    assert main(["reindex", "--source", str(path), "--out", str(tmp_path / "idx"), "--strict", "--quiet"]) == 0
    assert builds == [path] and capsys.readouterr().err == ""


# -- bounded fields -------------------------------------------------------------------------------------
def test_an_over_long_field_of_the_text_export_is_cut_with_a_warning_naming_the_fiche() -> None:
    action, warnings = _fiche("Une fête. " * 100_000)  # ~1 MB on one line
    assert len(action.summary) == MAX_FIELD_CHARS and action.summary.startswith("Une fête. Une fête.")
    assert action.public == "Familles"
    assert len(warnings) == 1 and warnings[0].startswith("fete.txt:11: ")  # the line of its label
    assert "'Résumé'" in warnings[0] and "'Fête de quartier'" in warnings[0] and f"{MAX_FIELD_CHARS}" in warnings[0]


def test_an_over_long_field_of_a_jsonl_export_is_cut_with_a_warning_naming_the_fiche(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    rows = [{"title": "Court"}, {"title": "Longue", "keywords": ["mot"] * 300_000, "evaluation": {"limits": "x" * 10**6}}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    corpus = read_jsonl(path)
    action = corpus.actions[1]
    assert len(action.evaluation.limits) == MAX_FIELD_CHARS and len(" ; ".join(action.keywords)) <= MAX_FIELD_CHARS
    assert len(corpus.warnings) == 2 and all(w.startswith(f"{path}:2: ") and "'Longue'" in w for w in corpus.warnings)


def test_no_text_of_the_analysis_exceeds_spacys_max_length(tmp_path: Path) -> None:
    """Every field at 1.1 million characters, in letters NFC turns into three: spaCy refuses (E088) none of the
    texts the analysis hands it (the lexical columns, the lines of every passage's section)."""
    from spacy.language import Language

    huge = "\ufb2c" * 1_100_000  # one code point that NFC (nlp.clean) writes as three
    row = {name: ([huge] if isinstance(value, list) else huge) for name, value in Action(id="", title="").to_dict().items()
           if name not in ("id", "evaluation", "extra")}
    row["evaluation"] = dict.fromkeys(Action(id="", title="").to_dict()["evaluation"], huge)
    path = tmp_path / "huge.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    action = read_jsonl(path).actions[0]
    texts = [*lexical_fields(action).values(), overview(action), *(read(action) for _, read in SECTIONS.values())]
    longest = max(texts, key=len)  # all made of the same letter: the longest is also the longest once cleaned
    assert 900_000 < len(clean(longest)) <= Language().max_length  # the length E088 is raised over


# -- JSONL with a BOM ----------------------------------------------------------------------------------
def test_a_jsonl_export_with_a_bom_reads_like_the_plain_one(tmp_path: Path) -> None:
    plain, bom = tmp_path / "plain.jsonl", tmp_path / "bom.jsonl"
    write_jsonl(load_actions(SAMPLE).actions[:3], plain)
    bom.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    assert read_jsonl(bom).actions == read_jsonl(plain).actions
