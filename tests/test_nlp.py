"""French analysis: the forms users type meet the forms the fiches use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from semsearch.nlp import FrenchNLP, clean, fold

ROOT = Path(__file__).resolve().parent.parent


def terms(nlp: FrenchNLP, text: str) -> list[str]:
    return [t.term for t in nlp.terms(text)]


@pytest.mark.parametrize(("typed", "written"), [
    ("precarite", "précarité"),
    ("parentalite", "Parentalité"),
    ("dechets", "déchets"),
    ("personnes agees", "personnes âgées"),
])
def test_unaccented_and_inflected_forms_meet(nlp: FrenchNLP, typed: str, written: str) -> None:
    assert terms(nlp, typed) == terms(nlp, written)


def test_elisions_and_stop_words_are_not_terms(nlp: FrenchNLP) -> None:
    assert terms(nlp, "l'épicerie de l’école et d'un quartier") == terms(nlp, "épicerie école quartier")


def test_terms_keep_the_surface_form_for_highlighting(nlp: FrenchNLP) -> None:
    assert [t.surface for t in nlp.terms("Les Familles précaires")] == ["familles", "precaires"]


def test_clean_normalises_unicode_quotes_and_spaces() -> None:
    assert clean("L’atelier\u00a0 des   parents\t\n\n e\u0301te\u0301 ") == "L'atelier des parents\nété"


def test_fold_strips_accents_and_case() -> None:
    assert fold("Élèves ŒUVRE Noël") == "eleves oeuvre noel"


def test_sentences_split_on_punctuation_and_lines(nlp: FrenchNLP) -> None:
    text = "Le groupe est parti en septembre. Il a visité le port !\n- un repas au restaurant"
    assert nlp.sentences(text) == ["Le groupe est parti en septembre.", "Il a visité le port !",
                                   "- un repas au restaurant"]


# Words the tokenizer's 1.4 MB token_match pattern decides on (prefixes, elisions, a URL, a date), in a few sentences.
TRICKY = ("L'atelier anti-gaspillage du centre-ville : les Familles précaires d'Angers, contre-allée.\n"
          "Inscriptions sur www.caf.fr/partenaires avant le 12/03/2024 ! Un 2e repas aujourd'hui ?\n- jardin partagé")
ANALYSE = textwrap.dedent("""
    import json, sys
    from semsearch.nlp import FrenchNLP
    assert "spacy" not in sys.modules, "spaCy imported with semsearch.nlp"
    nlp = FrenchNLP()
    text = sys.argv[1]
    out = {"terms": [[t.surface, t.term] for t in nlp.terms(text)], "words": [w.surface for w in nlp.words(text)],
           "sentences": nlp.sentences(text)}
    assert "torch" not in sys.modules, "torch imported with spaCy"
    if sys.argv[2:] == ["torch"]:
        import torch  # hidden from spaCy's import only: a program that wants it still gets it
    print(json.dumps(out))
""")


def _analyse_in_a_new_process(cache_home: Path, *extra: str) -> dict:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    run = subprocess.run([sys.executable, "-c", ANALYSE, TRICKY, *extra], check=False, cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout)


def test_a_new_process_analyses_the_same_with_or_without_the_start_up_cache(tmp_path: Path) -> None:
    """docs/OPERATIONS.md: the first start keeps the compiled tokenizer pattern in $XDG_CACHE_HOME/semsearch, later
    ones read it back (3 s less); deleting it is safe, a foreign file is ignored and rewritten. Whichever start it
    is, the analysis is the same. Importing the module costs no spaCy (0.7 s), spaCy no torch (1.2 s, ~180 MB)."""
    kept = tmp_path / "semsearch"
    cold = _analyse_in_a_new_process(tmp_path, "torch")
    written = {f: f.read_bytes() for f in kept.iterdir()}
    assert written, "nothing kept for the next start"
    assert _analyse_in_a_new_process(tmp_path) == cold
    for file in written:
        file.write_bytes(b"not what this Python wrote")
    assert _analyse_in_a_new_process(tmp_path) == cold
    assert {f: f.read_bytes() for f in kept.iterdir()} == written  # rewritten as it was
    assert cold["words"][:2] == ["atelier", "anti-gaspillage"]  # the pattern at work: "anti-" keeps its word whole


def test_query_words_come_from_the_tokenizer_alone(nlp: FrenchNLP) -> None:
    words = nlp.words("Les ateliers d'écriture pour les Seniors, en 2024 !")
    assert [w.surface for w in words] == ["ateliers", "ecriture", "seniors"]  # no stop word, number or elision
    assert [w.term for w in words[:2]] == [nlp.stem("ateliers"), nlp.stem("écriture")]


def test_stemming_is_safe_from_several_threads(nlp: FrenchNLP) -> None:
    from concurrent.futures import ThreadPoolExecutor

    words = [f"{w}{i}" for i in range(2000) for w in ("précarités", "alimentaires", "vieillissement")]
    expected = [nlp.stem(w) for w in words]
    fresh = FrenchNLP()  # its cache of stems is empty: every call below stems, eight at a time
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(fresh.stem, words)) == expected
