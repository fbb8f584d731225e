"""What the text-export parser keeps, reports and bounds: prose that looks like structure stays in its field with
a warning naming the line, `semsearch reindex` prints the warnings (and --strict refuses them), over-long fields
are cut so that spaCy never refuses a text, and a JSONL export may start with a BOM."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from semsearch.analysis import lexical_fields
from semsearch.bounds import MAX_FIELD_CHARS
from semsearch.chunking import SECTIONS, overview
from semsearch.cli import main
from semsearch.corpus import load_actions, parse_export, read_jsonl, write_jsonl
from semsearch.export import LABEL_OF, render_export
from semsearch.nlp import clean
from semsearch.records import Action, Evaluation

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
    assert "en fin de ligne, mais pas collé comme le fait l'export : gardé comme texte de 'Résumé'" in warnings[0]


# Every label where the export glues it to the text of the field before; `- CS A - Anjou` is split on its last dash.
GLUED = Action(id="", title="A", status="En cours", end_reasons="Fin du projet.", dimension="Animation",
               summary='Une fête.\nenvoyons de la bienveillance !"', structure="CS A", department="Anjou",
               experience="du social, médicosocial, médical.", territory="Un quartier", public="Familles",
               description="Un stand (voir photos)", budget="12 €",
               evaluation=Evaluation(limits="le relais et approfondir", perspectives="Rien."))


@pytest.mark.parametrize("attr", ["dimension", "structure", "territory", "budget", "evaluation.perspectives"])
def test_a_label_glued_where_the_export_glues_it_is_split_off(attr: str) -> None:
    lines = render_export([GLUED]).split("\n")
    at = lines.index(f"- {LABEL_OF[attr]}")  # the first one: the territory is written twice
    lines[at - 1:at + 1] = [lines[at - 1] + lines[at]]  # `médical.- Territoire concerné`
    corpus = parse_export("\n".join(lines), "glued.txt")
    assert [{**a.to_dict(), "id": ""} for a in corpus.actions] == [GLUED.to_dict()] and corpus.warnings == []


# -- a label or heading where the export's layout has no place for it ---------------------------------------
@pytest.mark.parametrize("summary", [
    "Une fête ouverte à tous.- Public\nLes familles sont venues nombreuses.",  # a label of another section
    "- Public",  # a bare label line, nothing under it
    "Un.\n- Public\n- Adultes",
    "Un.\n- Territoire concerné\n- Une commune",
    "Un.\n- Résumé\nDeux.",  # the field's own label
    "Voir plus bas.- Résumé",
    "Un.\n- Dimension\nDeux.",  # a label the fiche has passed
    "Un.\nDESCRIPTION DE L'ACTION\nDeux.",  # the heading of the section being read
    "Voir la fiche.- Structure organisatrice\nLa suite.",  # the next label, which the fiche then gives
    "Un.\n- Structure organisatrice\nDeux.",
    "Un.\nRAISON D'ETRE DE L' ACTION\nDeux.",  # the next heading, which the fiche then gives
    "Un.\nMETHODOLOGIE DE L' ACTION\n- Public\nDeux.",
])
def test_structure_where_the_layout_has_no_place_for_it_stays_in_its_field_and_is_reported(summary: str) -> None:
    action, warnings = _fiche(summary)
    assert action.summary == summary
    assert (action.dimension, action.structure, action.department, action.territory, action.public,
            action.description) == ("Animation", "CENTRE SOCIAL A", "Maine-et-Loire", "Un quartier", "Familles",
                                    "Un après-midi de jeux.")
    summary_lines = range(SUMMARY_LINE, SUMMARY_LINE + summary.count("\n") + 1)
    assert warnings and all(int(w.split(":")[1]) in summary_lines or "gardé comme texte" in w for w in warnings)
    assert {int(w.split(":")[1]) for w in warnings if "gardé comme texte de 'Résumé'" in w} <= set(summary_lines)


def test_the_partners_heading_is_structure_only_where_the_export_writes_it() -> None:
    text = FICHE.format(summary="Nos partenaires :\nPartenaires d'action:\nla Caf.").replace(
        "- Familles\n", "- Familles\n- Avec qui cette action a-t-elle été menée ?\n-\nPartenaires d'action:\n- Caf\n")
    corpus = parse_export(text, "partners.txt")
    action = corpus.actions[0]
    assert action.summary == "Nos partenaires :\nPartenaires d'action:\nla Caf." and action.partners == ["Caf"]
    assert corpus.warnings == []


def test_a_label_line_in_the_sample_stays_in_its_field_and_the_rest_parses_as_before() -> None:
    """A label line of the summary that follows, in the optional field before it: the labels passed over in
    between (dimension, keywords) show that the second one is the label."""
    lines = SAMPLE.read_text(encoding="utf-8").split("\n")
    at = lines.index("- Raisons pour lesquelles l'action est terminée") + 2
    inserted = ["- Résumé", "Voir la fiche.- Structure organisatrice", "- Public", "Une fête.- Public"]
    lines[at:at] = inserted
    corpus = parse_export("\n".join(lines), "sample.txt")
    sample = load_actions(SAMPLE)
    sejour = sample.actions[0]
    sejour.end_reasons = "\n".join([sejour.end_reasons, *inserted])
    assert corpus.actions == sample.actions
    assert [w.split(":")[1] for w in corpus.warnings[:4]] == [str(n) for n in range(at + 1, at + 5)]


@pytest.mark.parametrize(("first", "second", "kept"), [
    ("", "- Un quartier", "Un quartier"),
    ("- Un quartier", "", "Un quartier"),
    ("- Une commune", "- Un quartier", "Une commune"),
])
def test_a_repeated_label_with_another_value_is_reported_even_when_one_is_empty(first: str, second: str,
                                                                               kept: str) -> None:
    text = FICHE.format(summary="Un.").replace("- Territoire concerné\n- Un quartier\n",
                                               f"- Territoire concerné\n{first}\n")
    text = text.replace("- Familles\n", f"- Familles\n- Territoire concerné\n{second}\n")
    corpus = parse_export(text, "twice.txt")
    assert corpus.actions[0].territory == kept
    assert len(corpus.warnings) == 1 and corpus.warnings[0].startswith("twice.txt:21: ")
    assert "'Territoire concerné'" in corpus.warnings[0] and "ligne 16" in corpus.warnings[0]


# -- `Actions "…"` in prose ---------------------------------------------------------------------------
def test_an_actions_line_in_prose_is_kept_in_its_field_not_a_new_fiche() -> None:
    action, warnings = _fiche('Ils ont fabriqué des jeux :\nActions "Jeux en bois"\npuis les ont vendus.')
    assert action.summary == 'Ils ont fabriqué des jeux :\nActions "Jeux en bois"\npuis les ont vendus.'
    assert action.public == "Familles"
    assert len(warnings) == 1 and warnings[0].startswith(f"fete.txt:{SUMMARY_LINE + 1}: ")
    assert "n'est pas suivi de \"DESCRIPTION DE L'ACTION\" : gardé comme texte de 'Résumé', pas une nouvelle fiche" \
        in warnings[0]


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
    assert err[0].startswith(f"semsearch : avertissement : {warned_export}:{SUMMARY_LINE}: ")
    assert err[1].startswith(f"semsearch : avertissement : {warned_export}:{SUMMARY_LINE + 1}: ")
    assert "2 avertissement(s)" in err[2]


def test_reindex_strict_refuses_an_export_with_warnings_before_building(
        warned_export: Path, builds: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reindex", "--source", str(warned_export), "--out", str(tmp_path / "idx"), "--strict"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert builds == [] and not (tmp_path / "idx").exists()
    assert len(err) == 3 and err[-1].startswith("semsearch : erreur : ") and "--strict" in err[-1]


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
