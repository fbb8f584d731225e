"""How the command line shows results to people: search and similar results, a fiche, the duplicates report.
With --json the command prints the HTTP models instead (semsearch.wire)."""

from __future__ import annotations

import textwrap

from .duplicates import EXACT, DuplicateReport
from .records import Action
from .results import Hit, SearchResults

WIDTH = 100
EXCERPT = 300  # characters of a passage shown


def show_hit(mark: str, hit: Hit) -> None:
    a = hit.action
    print(f"{mark} {a.title}")
    print(f"   {a.structure} — {a.department} · {a.dimension} · {', '.join(a.keywords)}")
    if hit.passage:
        marked = hit.passage.marked("«", "»", html=False)
        first = marked.find("«") if hit.passage.highlights else 0
        if first > EXCERPT // 2:  # start near the first matched word, so that it shows
            start = marked.rfind(" ", 0, first - EXCERPT // 4) + 1
            marked = "… " + marked[start:]
        passage = textwrap.shorten(marked, EXCERPT, placeholder=" …")
        print(textwrap.fill(f"[{hit.passage.label}] {passage}", WIDTH, initial_indent="   ", subsequent_indent="   "))
    for reason in hit.explanation.reasons:
        print(textwrap.fill(reason, WIDTH, initial_indent="   · ", subsequent_indent="     "))
    print(f"   id : {a.id}\n")


def show_results(results: SearchResults) -> None:
    similar = results.mode in ("similar", "recommend")
    if not results.hits:
        if results.mode == "recommend":
            print(f"Aucun projet à proposer d'après « {results.query} » avec ces filtres.")
        elif similar:
            print(f"Aucun projet comparable à « {results.query} » avec ces filtres.")
        elif results.total:
            print(f"Rien après la {results.offset}e fiche : « {results.query} » en trouve {results.total}.")
        else:
            hints = results.suggestions
            narrowed = " avec ces filtres" if hints.without_filters else ""
            print(f"Aucune fiche ne parle de « {results.query} »{narrowed}.")
            if hints.spellings:
                print(f"Essayez : {', '.join(hints.spellings)}")
            if hints.without_filters:
                print(f"{hints.without_filters} fiche(s) sans les filtres : retirez-en un.")
    else:
        found = {"similar": "projet(s) comparable(s) à", "recommend": "projet(s) qui pourraient vous inspirer, "
                 "d'après"}.get(results.mode, "fiche(s) pour")
        print(f"{results.total} {found} « {results.query} »\n")
    for rank, hit in enumerate(results.hits, start=results.offset + 1):
        show_hit(f"{rank}.", hit)
    if results.neighbours:
        print("Projets voisins, moins proches de la recherche :\n" if results.total else
              "\nPistes : des fiches qui en reprennent des mots, sans y répondre vraiment :\n")
        for hit in results.neighbours:
            show_hit("-", hit)


def show_action(action: Action) -> None:
    d = action.to_dict()
    evaluation = d.pop("evaluation")
    for key, value in {**d, **{f"evaluation.{k}": v for k, v in evaluation.items()}}.items():
        if value:
            text = ", ".join(value) if isinstance(value, list) else str(value)
            print(f"{key}:\n{textwrap.indent(text, '    ')}")


def show_duplicates(report: DuplicateReport) -> None:
    if not report.pairs:
        print(f"Aucune paire de fiches semblables à {report.threshold:.2f} ou plus." if not report.total else
              f"Rien après la {report.offset}e paire : il y en a {report.total}.")
        return
    print(f"{report.total} paire(s) de fiches semblables à {report.threshold:.2f} ou plus\n")
    for rank, pair in enumerate(report.pairs, start=report.offset + 1):
        if pair.kind == EXACT:
            print(f"{rank}. doublon exact : « {pair.first.title} », lignes {pair.first.line} et {pair.second.line} "
                  f"de {report.source} (fusionnées à la lecture)")
            print(f"   {pair.first.structure}\n   id : {pair.first.id}\n")
            continue
        print(f"{rank}. similarité {pair.score:.2f} : « {pair.first.title} » et « {pair.second.title} »")
        print(f"   {pair.first.structure} / {pair.second.structure}")
        print(textwrap.fill("champs différents : " + (", ".join(pair.fields) or "aucun"), WIDTH,
                            initial_indent="   ", subsequent_indent="     "))
        for line in pair.diff:
            print("   " + textwrap.shorten(line, WIDTH - 3, placeholder=" …"))
        print(f"   id : {pair.first.id} / {pair.second.id}\n")
