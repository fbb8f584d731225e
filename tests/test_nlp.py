"""French analysis: the forms users type meet the forms the fiches use."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from semsearch.nlp import FrenchNLP, _compiled_token_match, clean, fold

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


def test_kept_regex_is_the_program_re_compiles(tmp_path: Path) -> None:
    pattern = r"(?iu)^(?P<prefix>anti|contre)[-‐][a-zà-ÿ]+|^(\w+)'(\w+)$"
    compiled = _compiled_token_match(pattern, tmp_path)  # compiled, and kept in tmp_path
    (kept,) = tmp_path.iterdir()
    assert _compiled_token_match(pattern, tmp_path) == compiled == re.compile(pattern)  # same code, flags
    assert compiled.match("Contre-Allée").group("prefix") == "Contre"
    kept.write_bytes(b"not what this Python wrote")
    assert _compiled_token_match(pattern, tmp_path) == re.compile(pattern)


def test_spacy_loads_on_first_use_without_torch_and_its_regex_is_kept(tmp_path: Path) -> None:
    """Importing the module costs no spaCy (0.7 s), spaCy no torch (1.2 s, ~180 MB resident) that thinc imports
    for pipelines we do not have, and a second process no 3 s compiling the French tokenizer's 1.4 MB regex."""
    code = textwrap.dedent("""
        import os, re, sys
        from pathlib import Path
        from semsearch.nlp import FrenchNLP, _compiled_token_match
        assert "spacy" not in sys.modules, "spaCy imported with semsearch.nlp"
        nlp = FrenchNLP()
        assert [t.surface for t in nlp.terms("Les Familles précaires")] == ["familles", "precaires"]
        assert "torch" not in sys.modules, "torch imported with spaCy"
        used = nlp._tokenizer.token_match.__self__
        read_back = _compiled_token_match(used.pattern, Path(os.environ["XDG_CACHE_HOME"]) / "semsearch")
        re.purge()
        assert read_back == used == re.compile(used.pattern), "not the program re compiles"
        import torch
    """)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(list((tmp_path / "semsearch").iterdir())) == 1


def test_query_words_come_from_the_tokenizer_alone(nlp: FrenchNLP) -> None:
    words = nlp.words("Les ateliers d'écriture pour les Seniors, en 2024 !")
    assert [w.surface for w in words] == ["ateliers", "ecriture", "seniors"]  # no stop word, number or elision
    assert [w.term for w in words[:2]] == [nlp.stem("ateliers"), nlp.stem("écriture")]


def test_stemming_is_safe_from_several_threads(nlp: FrenchNLP) -> None:
    from concurrent.futures import ThreadPoolExecutor

    words = [f"{w}{i}" for i in range(2000) for w in ("précarités", "alimentaires", "vieillissement")]
    expected = [nlp._stem(w) for w in words]
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(nlp._stem, words)) == expected
