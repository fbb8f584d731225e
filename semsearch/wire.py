"""The wire shape of results: pydantic models of what a search, a recommendation, a fiche or a listing
returns, and the `from_*` functions that convert the library's values into them.

The HTTP service answers with these models and `semsearch ... --json` prints them, so both give the same
JSON for the same request. The library may rename or add attributes; these classes change only when the
wire format does, and the functions at the bottom are the one place that maps one onto the other.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from . import filters as flt
from .duplicates import DuplicatePair, DuplicateReport
from .records import Action
from .results import Hit, SearchResults


class PassageOut(BaseModel):
    section: str = Field(examples=["summary"])
    label: str = Field(description="nom de la section, à afficher", examples=["Résumé"])
    text: str
    marked: str = Field(description="le texte échappé pour HTML, mots trouvés entre <mark> et </mark>")
    highlights: list[tuple[int, int]] = Field(
        description="positions [début, fin) des mots trouvés dans `text`, en caractères Unicode (code points)"
    )


class FoundOut(BaseModel):
    word: str = Field(description="mot de la requête")
    places: list[str] = Field(description="sections ou champs de la fiche qui le contiennent", examples=[["Résumé"]])


class LikedOut(BaseModel):
    """A liked fiche, as a recommendation names it."""

    id: str
    title: str


class ExplanationOut(BaseModel):
    reasons: list[str] = Field(description="pourquoi ce résultat, en français, pour les personnes",
                               examples=[["Mots trouvés dans le passage : précarité, alimentaire"]])
    matched_terms: list[str] = Field(description="mots de la requête surlignés dans le passage")
    elsewhere: list[FoundOut] = Field(description="mots de la requête trouvés ailleurs dans la fiche")
    lexical_rank: int | None = Field(description="rang côté mots (BM25), absent si aucun mot trouvé")
    semantic_rank: int | None = Field(description="rang côté sens (similarité des vecteurs)")
    semantic_score: float | None = Field(description="cosinus du meilleur passage")
    like: str | None = Field(description="titre de la fiche la plus proche de la recherche, à laquelle celle-ci "
                                         "ressemble")
    shared_keywords: list[str] = Field(description="mots-clés en commun (actions similaires)")
    shared_words: list[str] = Field(default_factory=list, description="mots distinctifs que les deux fiches "
                                    "emploient (actions similaires)")
    closest_liked: LikedOut | None = Field(default=None, description="/recommend : la fiche aimée dont celle-ci "
                                           "est la plus proche, celle dont parlent les raisons ; null ailleurs")


class ActionCard(BaseModel):
    """What a list shows of an action: shared by search results and the paged list of fiches."""

    id: str
    title: str
    structure: str
    department: str
    dimension: str
    keywords: list[str]
    public: str
    status: str


class ResultOut(ActionCard):
    score: float
    tier: Literal["proche", "voisin"] = Field(
        description="proche : la fiche répond à la recherche (comptée dans `total`) ; voisin : une fiche moins "
                    "proche, donnée à part dans `neighbours`")
    passage: PassageOut | None = Field(description="le meilleur passage de la fiche pour cette requête")
    explanation: ExplanationOut


class FacetValueOut(BaseModel):
    value: str
    count: int = Field(description="actions trouvées ayant cette valeur, les autres filtres appliqués")
    selected: bool


Facets = dict[str, list[FacetValueOut]]


class SuggestionsOut(BaseModel):
    spellings: list[str] = Field(description="mots des fiches proches des mots inconnus de la recherche")
    without_filters: int = Field(description="fiches trouvées par la même recherche sans aucun filtre (0 sans "
                                             "filtre)")


class SearchResponse(BaseModel):
    query: str = Field(description="la requête telle que cherchée (/similar : le titre de l'action source ; "
                                   "/recommend : les titres des fiches aimées, séparés par « ; »)")
    mode: str
    total: int = Field(description="nombre de fiches qui répondent à la recherche, filtres appliqués : le même sur "
                                   "chaque page ; 0 quand aucune ne répond")
    offset: int
    limit: int
    results: list[ResultOut]
    neighbours: list[ResultOut] = Field(
        description="fiches voisines, moins proches, jamais comptées dans `total` (au plus 5, les mêmes sur chaque "
                    "page) ; quand aucune fiche ne répond, les pistes : des fiches qui reprennent un mot de la "
                    "recherche")
    suggestions: SuggestionsOut = Field(description="que tenter quand rien n'est trouvé")
    corrected: str | None = Field(default=None, description="la requête comme l'écrivent les fiches quand un mot "
                                  "mal tapé a été pris pour un mot des fiches (« viellissement » → "
                                  "« vieillissement »), sinon null", examples=["vieillissement"])
    facets: Facets


class EvaluationOut(BaseModel):
    territory: str
    centre: str
    residents: str
    limits: str
    perspectives: str


class ActionOut(BaseModel):
    """The whole fiche."""

    id: str
    title: str
    status: str
    end_reasons: str
    dimension: str
    keywords: list[str]
    summary: str
    structure: str
    department: str
    initiative: list[str]
    initiative_detail: str
    experience: str
    territory: str
    public: str
    partners: list[str]
    description: str
    budget: str
    people: str
    evaluation: EvaluationOut
    files: list[str]
    extra: dict[str, str]


class ActionSummaryOut(ActionCard):
    summary: str


class ActionListResponse(BaseModel):
    total: int
    offset: int
    limit: int
    actions: list[ActionSummaryOut]
    facets: Facets


class FacetsResponse(BaseModel):
    total: int = Field(description="nombre d'actions, filtres appliqués")
    facets: Facets


class DuplicateFicheOut(BaseModel):
    id: str = Field(description="identifiant de la fiche ; pour un doublon exact écarté à la lecture de l'export, "
                                "celui de la fiche qu'il répète")
    title: str
    structure: str
    line: int | None = Field(description="ligne de la fiche dans l'export (doublons exacts) ; null sinon")


class DuplicatePairOut(BaseModel):
    kind: Literal["exact", "proche"] = Field(
        description="exact : fiche répétée à l'identique dans l'export, fusionnée à la lecture ; proche : deux "
                    "fiches de l'index presque identiques (même action envoyée deux fois ou recopiée)")
    score: float = Field(description="similarité de 0 à 1 : moyenne du cosinus des fiches, de l'indice de "
                                     "Jaccard de leurs mots et de la ressemblance des résumés ; 1 pour un doublon exact")
    first: DuplicateFicheOut
    second: DuplicateFicheOut
    fields: list[str] = Field(description="champs qui diffèrent, par leur nom dans l'export",
                              examples=[["Résumé", "Avec qui cette action a-t-elle été menée ?"]])
    diff: list[str] = Field(description="différences des résumés, quelques lignes : « - » mots retirés, « + » mots "
                                        "ajoutés", examples=[["- 2021", "+ 2022"]])


class DuplicatesResponse(BaseModel):
    threshold: float = Field(description="similarité minimale des paires listées")
    total: int = Field(description="paires listées en tout, doublons exacts compris")
    offset: int
    limit: int
    source: str = Field(description="nom du fichier d'export de l'index (celui des numéros de ligne)")
    pairs: list[DuplicatePairOut] = Field(description="doublons exacts d'abord, puis les paires de la plus "
                                                      "semblable à la moins semblable")


# -- library -> wire --------------------------------------------------------------------------------
def from_facets(facets: dict[str, list[flt.FacetValue]]) -> Facets:
    return {name: [FacetValueOut(value=v.value, count=v.count, selected=v.selected) for v in values]
            for name, values in facets.items()}


def from_hit(hit: Hit) -> ResultOut:
    a, p, e = hit.action, hit.passage, hit.explanation
    passage = None if p is None else PassageOut(section=p.section, label=p.label, text=p.text,
                                                 marked=p.marked(), highlights=p.highlights)
    return ResultOut(
        **ActionCard.model_validate(a.to_dict()).model_dump(), score=hit.score, tier=hit.tier, passage=passage,
        explanation=ExplanationOut(reasons=e.reasons, matched_terms=e.matched_terms,
                                   elsewhere=[FoundOut(word=f.word, places=f.places) for f in e.elsewhere],
                                   lexical_rank=e.lexical_rank, semantic_rank=e.semantic_rank,
                                   semantic_score=e.semantic_score, like=e.like, shared_keywords=e.shared_keywords,
                                   shared_words=e.shared_words,
                                   closest_liked=None if e.closest_liked is None else
                                   LikedOut(id=e.closest_liked.id, title=e.closest_liked.title)),
    )


def from_results(results: SearchResults) -> SearchResponse:
    hints = results.suggestions
    return SearchResponse(query=results.query, mode=results.mode, total=results.total, offset=results.offset,
                          limit=results.limit, results=[from_hit(h) for h in results.hits],
                          neighbours=[from_hit(h) for h in results.neighbours],
                          suggestions=SuggestionsOut(spellings=hints.spellings, without_filters=hints.without_filters),
                          corrected=results.corrected,
                          facets=from_facets(results.facets))


def from_action(action: Action) -> ActionOut:
    return ActionOut.model_validate(action.to_dict())


def summary_of(action: Action) -> ActionSummaryOut:
    return ActionSummaryOut.model_validate(action.to_dict())


def from_duplicates(report: DuplicateReport) -> DuplicatesResponse:
    return DuplicatesResponse(threshold=report.threshold, total=report.total, offset=report.offset,
                              limit=report.limit, source=report.source,
                              pairs=[_pair(p) for p in report.pairs])


def _pair(pair: DuplicatePair) -> DuplicatePairOut:
    return DuplicatePairOut(kind=pair.kind, score=pair.score,  # type: ignore[arg-type]
                            first=DuplicateFicheOut(**vars(pair.first)), second=DuplicateFicheOut(**vars(pair.second)),
                            fields=pair.fields, diff=pair.diff)
