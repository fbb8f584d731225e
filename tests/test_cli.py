"""The command line as a user runs it: readable output, --json for machines, one-line errors."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api import create_app
from semsearch.cli import main
from semsearch.config import Settings
from semsearch.search import Searcher


@pytest.fixture(autouse=True)
def _index(monkeypatch: pytest.MonkeyPatch, sample_index: Path) -> None:
    monkeypatch.setenv("SEMSEARCH_INDEX_DIR", str(sample_index))


def test_search_prints_titles_passages_and_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "precarite alimentaire en rural", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[2] == "1. Epicerie solidaire ephémère"
    assert "· Mots trouvés dans le passage : précarité, alimentaire" in out and "«précarité»" in out
    assert "cosinus" not in out and "[0." not in out  # no scores for people


def test_search_json_is_machine_readable_and_filtered(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "parents", "--keyword", "Parentalité", "--public", "Adultes", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total"] == len(data["results"]) >= 1
    assert all("Parentalité" in r["keywords"] and r["public"] == "Adultes" for r in data["results"])


@pytest.fixture(scope="module")
def client(settings: Settings, searcher: Searcher) -> Iterator[TestClient]:
    with TestClient(create_app(settings, searcher=searcher)) as c:
        yield c


@pytest.mark.parametrize(("argv", "route"), [
    (["search", "precarite alimentaire en rural", "--limit", "3"],
     "/search?q=precarite alimentaire en rural&limit=3"),
    (["search", "atelier", "--keyword", "Parentalité", "--keyword", "Santé", "--mode", "lexical",
      "--offset", "1"],
     "/search?q=atelier&keyword=Parentalité&keyword=Santé&mode=lexical&offset=1"),
    (["search", "jardinage partajé"], "/search?q=jardinage partajé"),  # suggestions
    (["similar", "{DEMOS}", "--limit", "3", "--status", "En cours"],
     "/similar/{DEMOS}?limit=3&status=En cours"),
    (["show", "{DEMOS}"], "/actions/{DEMOS}"),
])
def test_json_is_what_http_answers_to_the_same_request(capsys: pytest.CaptureFixture[str],
                                                       client: TestClient, ids: dict[str, str],
                                                       argv: list[str], route: str) -> None:
    assert main([arg.format(**ids) for arg in argv] + ["--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    response = client.get(route.format(**ids))
    assert response.status_code == 200, response.text
    assert printed == response.json()
    # not two empty answers that happen to be equal
    assert printed.get("title") or printed["results"] or printed["suggestions"]["spellings"]


def test_show_and_similar_by_id(capsys: pytest.CaptureFixture[str], ids: dict[str, str]) -> None:
    assert main(["show", ids["DEMOS"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "DEMOS"
    assert main(["similar", ids["DEMOS"], "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert "projet(s) comparable(s) à « DEMOS »" in out and "\n1. DEMOS\n" not in out


def test_empty_results_say_so_in_french(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "zzzz", "--mode", "lexical"]) == 0
    assert "Aucune fiche ne parle de « zzzz »." in capsys.readouterr().out
    assert main(["search", "qzxwvkjtrpl mbhgf", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total"] == 0 and data["results"] == [] and data["neighbours"] == []



def test_a_page_past_the_last_says_how_many_there_are(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "alimentaire", "--json"]) == 0
    total = json.loads(capsys.readouterr().out)["total"]
    assert main(["search", "alimentaire", "--offset", "90"]) == 0
    assert f"Rien après la 90e fiche : « alimentaire » en trouve {total}." in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["show", "no-such-id"], "aucune action n'a l'identifiant « no-such-id »"),
    (["search", "parents", "--limit", "500"], "paramètre « limit » : doit être entre 1 et 100"),
    (["reindex", "--source", "missing.txt"], "missing.txt : impossible de lire le fichier : fichier ou dossier introuvable"),
])
def test_errors_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_reindex_builds_a_new_index_from_jsonl(tmp_path: Path, corpus, capsys: pytest.CaptureFixture[str]) -> None:
    from semsearch.corpus import write_jsonl

    source = tmp_path / "two.jsonl"
    write_jsonl(corpus.actions[:2], source)
    assert main(["reindex", "--source", str(source), "--out", str(tmp_path / "idx"), "--quiet"]) == 0
    assert "2 actions" in capsys.readouterr().out
    assert main(["--index", str(tmp_path / "idx"), "show", corpus.actions[1].id, "--json"]) == 0


def test_library_messages_reach_the_terminal(tmp_path: Path, corpus, capsys: pytest.CaptureFixture[str]) -> None:
    """What the library says while it works reaches the person at the terminal: here, why a reindex rebuilds
    everything instead of patching (the live build was damaged)."""
    from semsearch.corpus import write_jsonl

    source, index_dir = tmp_path / "two.jsonl", tmp_path / "idx"
    write_jsonl(corpus.actions[:2], source)
    assert main(["reindex", "--source", str(source), "--out", str(index_dir), "--quiet"]) == 0
    lexical = (index_dir / "current").resolve() / "lexical.npz"
    lexical.write_bytes(lexical.read_bytes()[:200])
    capsys.readouterr()
    assert main(["reindex", "--source", str(source), "--out", str(index_dir), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "semsearch : la construction en service" in err and "construction complète" in err, err


def test_the_prompt_prints_results_on_stdout_and_errors_on_stderr(monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    lines = iter(["x" * 600, "parents"])
    monkeypatch.setattr("builtins.input", lambda _prompt: next(lines, ""))
    assert main(["search", "--limit", "1"]) == 0
    out, err = capsys.readouterr()
    assert err.strip() == "erreur : paramètre « q » : la requête dépasse 500 caractères"
    assert "1. " in out and "erreur" not in out


def test_help_is_in_french(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["search", "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and out.startswith("utilisation : semsearch search")
    assert "afficher cette aide" in out and "résultats par page" in out and "show this help" not in out
    assert "\noptions :\n" in out and "--limit N" in out and "positional arguments" not in out


@pytest.mark.parametrize(("argv", "message"), [
    (["search", "parents", "--limit", "dix"],
     "argument --limit : nombre entier attendu, pas 'dix' ; voir semsearch search --help"),
    (["serve", "--port", "huit"], "argument --port : nombre entier attendu, pas 'huit' ; voir semsearch serve --help"),
    (["search", "parents", "--mode", "flou"], ("argument --mode : choix invalide : 'flou' (choix possibles : "
                                               "'hybrid', 'semantic', 'lexical') ; voir semsearch search --help")),
    (["cherche", "parents"], "argument COMMANDE : choix invalide : 'cherche' (choix possibles : 'search', "),
    ([], "argument(s) obligatoire(s) manquant(s) : COMMANDE ; voir semsearch --help"),
    (["similar"], "argument(s) obligatoire(s) manquant(s) : ID ; voir semsearch similar --help"),
    (["search", "parents", "--bavard"], "argument(s) non reconnu(s) : --bavard ; voir semsearch --help"),
    (["search", "parents", "--limit"], "argument --limit : une valeur attendue"),
    (["search", "parents", "--st", "x"], "option ambiguë : --st peut être --status, --structure"),
    (["show", "x", "--json=oui"], "argument --json : ne prend pas de valeur ('oui' donné)"),
])
def test_usage_errors_are_one_french_line_and_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str],
                                                     message: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"semsearch : erreur : {message}"), err
    assert not re.search(r"\b(error|usage|invalid|expected|required|unrecognized|ambiguous)\b", err), err
