"""The export parser: the sample's known values, stable ids, the JSONL round trip, errors that name a line."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from semsearch.corpus import (
    Corpus,
    load_actions,
    make_ids,
    parse_export,
    read_jsonl,
    slugify,
    write_jsonl,
)
from semsearch.errors import ParseError
from semsearch.export import HEADINGS, LABELS
from semsearch.records import Action

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "actions-maine-et-loire.txt"
MINI = Path(__file__).resolve().parent / "data" / "mini-export.txt"


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return load_actions(SAMPLE)


@pytest.fixture(scope="module")
def by_title(corpus: Corpus) -> dict[str, Action]:
    return {a.title: a for a in corpus.actions}


def _get(action: Action, path: str) -> object:
    value: object = action
    for part in path.split("."):
        value = getattr(value, part)
    return value


def test_sample_parses_to_24_unique_actions_and_one_collapsed_duplicate(corpus: Corpus) -> None:
    assert len(corpus.actions) == 24
    assert corpus.duplicates == 1
    titles = [a.title for a in corpus.actions]
    assert titles.count("Les p'tites lettres solidaires") == 1
    assert any(":1059:" in w and "doublon exact" in w for w in corpus.warnings)


def test_corpus_records_source_and_checksum_of_the_file_bytes(corpus: Corpus) -> None:
    assert corpus.source == SAMPLE
    assert corpus.checksum == hashlib.sha256(SAMPLE.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("title", "path", "expected"),
    [
        ("Séjour Adultes", "status", "Terminée"),
        ("Séjour Adultes", "end_reasons", "Accompagnement de projet d'un groupe pour un séjour."),
        ("Séjour Adultes", "structure", "CENTRE SOCIOCULTUREL COIN DE LA RUE"),
        ("Séjour Adultes", "department", "Maine-et-Loire"),
        ("Séjour Adultes", "partners", ["CARSAT"]),
        (
            "Séjour Adultes",
            "evaluation.perspectives",
            "De nouveaux départs entre adultes, 2 séjours sont organisés pour 2022.",
        ),
        ("Séjour Adultes", "people", "11 adultes\n1 animatrice\n1 bénévole"),
        ("Ateliers parents solo", "keywords", ["Parentalité", "éducation / scolarité", "Précarité", "discriminations"]),
        ("DEMOS", "partners", ["Caf", "Commune", "Conseil départemental", "Préfecture"]),
        ("DEMOS", "initiative", ["Le centre social", "Un ou plusieurs partenaire(s)", "Autre"]),
        (
            "DEMOS",
            "initiative_detail",
            "Philharmonie de Paris\nCaisse d'allocation familiale du Maine et Loire\nLes familles",
        ),
        ("DEMOS", "description", ""),
        ("HULC (Habitants Unis = Localité Choyée)", "evaluation.limits", ""),
        (
            "HULC (Habitants Unis = Localité Choyée)",
            "evaluation.territory",
            "Moins de déchets,\nSensibiliser à la réduction des déchets",
        ),
        ("Covid et après", "keywords", ["Viellissement", "Santé"]),  # typo kept as written
        ("Covid et après", "territory", "Une commune"),
        ("Les p'tites lettres solidaires", "structure", "CENTRE SOCIAL VAL’ MAUGES"),
        ("Les p'tites lettres solidaires", "files", []),
        ("les talentueuses de Bellevue", "structure", "LEO LAGRANGE OUEST- Ginette Leroux TRELAZE"),
        ("Parenthèse", "structure", "Centre social - Village Pierre Rabhi"),
        ("Parenthèse", "public", ""),
        ("Défi Mode", "budget", "2700 €"),
        ("Epicerie solidaire ephémère", "territory", "Autre"),
    ],
)
def test_sample_field_values(by_title: dict[str, Action], title: str, path: str, expected: object) -> None:
    assert _get(by_title[title], path) == expected


def test_budget_keeps_every_line(by_title: dict[str, Action]) -> None:
    budget = by_title["Séjour Adultes"].budget.split("\n")
    assert "Hébergement : 1376€" in budget
    assert budget.count("Total : 4256.95€") == 2


def test_title_with_a_stray_quote_is_cleaned(by_title: dict[str, Action]) -> None:
    assert "Défi Mode" in by_title
    assert (
        "Lab'Rique, « Un LABoratoire numéRIQUE, où chacun peut construire son parcours numérique, brique par brique ! »"
        in by_title
    )


@pytest.mark.parametrize(
    ("title", "path", "ending"),
    [
        ("Covid et après", "experience", "médical."),
        ("Les p'tites lettres solidaires", "summary", 'envoyons de la bienveillance !"'),
        ("Atelier de conversation en français", "evaluation.limits", "pour prendre le relais et approfondir"),
    ],
)
def test_label_glued_to_the_end_of_a_line_is_split_off(
    by_title: dict[str, Action], title: str, path: str, ending: str
) -> None:
    assert str(_get(by_title[title], path)).endswith(ending)


def test_glued_label_still_starts_its_field(by_title: dict[str, Action]) -> None:
    assert by_title["Atelier de conversation en français"].evaluation.perspectives.startswith("Poursuite de l'action")


def test_dash_lines_inside_narrative_are_kept_as_text(by_title: dict[str, Action]) -> None:
    summary = by_title["YAPLUKA"].summary.split("\n")
    assert (
        summary[1]
        == "- Développer de l’accueil pour les 12 - 17 ans à la journée sur des missions courtes d'engagement ."
    )
    description = by_title["Tiers lieu numérique"].description.split("\n")
    assert "- Vidéo/audiovisuel" in description
    assert "-" not in description  # the lone separator lines are dropped


def test_no_label_or_heading_leaks_into_content(corpus: Corpus) -> None:
    structure = {f"- {label}" for label in LABELS} | set(HEADINGS) | {"AUTO-EVALUATION DE L’ACTION"}
    for action in corpus.actions:
        texts = [v for v in action.to_dict().values() if isinstance(v, str)]
        texts += list(action.to_dict()["evaluation"].values()) + action.keywords + action.partners
        for text in texts:
            assert not structure & set(text.split("\n")), action.title


def test_ids_are_unique_url_safe_and_readable(corpus: Corpus) -> None:
    ids = [a.id for a in corpus.actions]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z0-9-]+", i) for i in ids)
    assert re.fullmatch(r"sejour-adultes-[0-9a-f]{6}", corpus.actions[0].id)


def test_ids_are_stable_across_parses(corpus: Corpus) -> None:
    again = parse_export(SAMPLE.read_text(encoding="utf-8"), str(SAMPLE))
    assert [a.id for a in again.actions] == [a.id for a in corpus.actions]


def test_same_title_in_two_centres_gets_two_ids() -> None:
    first, second = load_actions(MINI).actions
    assert first.title == second.title == "Atelier numérique"
    assert first.id != second.id
    assert first.id.startswith("atelier-numerique-") and second.id.startswith("atelier-numerique-")


def test_different_records_with_the_same_title_and_centre_get_a_suffix_in_file_order() -> None:
    a = Action(id="", title="Atelier", structure="CS", summary="un")
    b = Action(id="", title="Atelier", structure="CS", summary="deux")
    first, second = make_ids([a, b])
    assert second == f"{first}-2"


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Séjour Adultes", "sejour-adultes"),
        ("Les p'tites lettres solidaires", "les-p-tites-lettres-solidaires"),
        ("Œuvre  collective !", "oeuvre-collective"),
        ("Lab'Rique, « Un LABoratoire numéRIQUE, où chacun peut construire", "lab-rique-un-laboratoire-numerique-ou"),
        ("«  »", "action"),
        ("a" * 50, "a" * 40),
    ],
)
def test_slug_folds_accents_and_cuts_at_a_word(title: str, slug: str) -> None:
    assert slugify(title) == slug
    assert len(slugify(title)) <= 40


def test_jsonl_round_trip_gives_identical_actions(corpus: Corpus, tmp_path: Path) -> None:
    path = tmp_path / "actions.jsonl"
    write_jsonl(corpus.actions, path)
    back = load_actions(path)
    assert back.actions == corpus.actions
    assert back.duplicates == 0 and back.warnings == []


def test_jsonl_without_ids_computes_the_same_ids(corpus: Corpus, tmp_path: Path) -> None:
    path = tmp_path / "no-ids.jsonl"
    rows = [{k: v for k, v in a.to_dict().items() if k != "id"} for a in corpus.actions]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert read_jsonl(path).actions == corpus.actions


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"title": "A", ', "JSON invalide"),
        ('["A"]', "objet JSON attendu"),
        ('{"title": "A", "budjet": "10"}', "budjet"),
        ('{"title": "A", "keywords": "Santé"}', "'keywords'"),
        ('{"title": "A", "evaluation": {"bilan": "ok"}}', "'evaluation'"),
        ('{"summary": "sans titre"}', "'title'"),
        ('{"id": "Pas Valide", "title": "A"}', "'id'"),
        ('{"id": "a-1", "title": "B"}', "champ 'id' : 'a-1' déjà utilisé à la ligne 1"),
    ],
)
def test_bad_jsonl_line_names_the_line_and_the_field(tmp_path: Path, line: str, reason: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a-1", "title": "A"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(ParseError) as err:
        read_jsonl(path)
    assert err.value.line == 2 and err.value.file == str(path)
    assert reason in err.value.reason


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        (b"", 1, "fichier vide"),
        (b"  \n\n", 1, "fichier vide"),
        ('Les actions des centres sociaux\nActions "Caf\u00e9"\nR\u00e9sum\u00e9\n'.encode("latin-1"), 2, "pas en UTF-8 (octet 0xe9)"),
        (b"Liste de courses\n- pain\n- lait\n", 1, "pas un export de fiches actions"),
        (b"Les actions des centres sociaux\n", 1, "aucune fiche"),
        ('Les actions des centres sociaux\nActions ""\n- Résumé\n'.encode(), 2, "fiche sans titre"),
    ],
)
def test_unreadable_export_raises_parse_error_with_file_and_line(
    tmp_path: Path, content: bytes, line: int, reason: str
) -> None:
    path = tmp_path / "export.txt"
    path.write_bytes(content)
    with pytest.raises(ParseError) as err:
        load_actions(path)
    assert err.value.file == str(path) and err.value.line == line
    assert reason in err.value.reason
    assert str(err.value).startswith(f"{path}, ligne {line} : ")


def test_unknown_label_after_a_heading_goes_to_extra_with_a_warning() -> None:
    corpus = load_actions(MINI)
    second = corpus.actions[1]
    assert second.extra == {"Budget prévisionnel": "1200 €\nréparti sur deux ans"}
    assert any(w.startswith(f"{MINI}:23:") and "Budget prévisionnel" in w for w in corpus.warnings)
    # elsewhere a "- Xxx :" line is narrative content, not a label
    assert second.evaluation.residents == "- Budget : voir annexe"


def test_structure_split_on_the_last_dash() -> None:
    second = load_actions(MINI).actions[1]
    assert (second.structure, second.department) == ("CENTRE SOCIAL B - Centre Ville", "Maine-et-Loire")


def test_territory_given_twice_with_different_values_keeps_the_first_and_warns() -> None:
    corpus = load_actions(MINI)
    assert corpus.actions[0].territory == "Une commune"
    assert any(w.startswith(f"{MINI}:14:") and "Territoire concerné" in w for w in corpus.warnings)


def test_parse_export_names_the_given_file() -> None:
    with pytest.raises(ParseError) as err:
        parse_export("bonjour", "upload.txt")
    assert str(err.value).startswith("upload.txt, ligne 1 : ")
