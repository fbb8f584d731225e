"""The wire format: pydantic models for requests and responses, separate from the library's dataclasses.

The library may rename or add attributes; these classes change only when the API does, and the `from_*`
functions at the bottom are the one place that maps one onto the other.
"""

from __future__ import annotations

from html import escape
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from semsearch import filters as flt
from semsearch.records import Action
from semsearch.search import FACET_LIMIT, MAX_QUERY_CHARS, Hit, Passage, SearchResults

EXAMPLE_QUERY = "précarité alimentaire en rural"
MAX_FILTER_VALUES = 20
# Deep pages are for programs walking a listing, and the index holds thousands of fiches, not millions: a
# bound keeps `offset + limit` a small number everywhere below (ranking keeps that many results).
MAX_OFFSET = 10_000
FilterValue = Annotated[str, StringConstraints(max_length=200)]
FilterValues = Annotated[list[FilterValue], Field(max_length=MAX_FILTER_VALUES)]
SearchMode = Literal["hybrid", "semantic", "lexical"]  # semsearch.search.MODES, spelt out for the schema


# -- requests ---------------------------------------------------------------------------------------
class FilterParams(BaseModel):
    """Filters, as repeatable query parameters or JSON lists: values of one filter are OR-ed, filters AND-ed.

    Unknown names are refused (extra="forbid"), so a misspelt filter is a 422, never silently ignored.
    """

    model_config = ConfigDict(extra="forbid")

    dimension: FilterValues = Field(default=[], examples=[["Lutte contre la précarité"]])
    keyword: FilterValues = Field(default=[], examples=[["Alimentation", "Santé"]])
    public: FilterValues = Field(default=[], examples=[["Familles"]])
    territory: FilterValues = Field(default=[])
    status: FilterValues = Field(default=[], examples=[["En cours"]])
    structure: FilterValues = Field(default=[])
    department: FilterValues = Field(default=[], examples=[["Maine-et-Loire"]])
    partner: FilterValues = Field(default=[])

    def filters(self) -> dict[str, list[str]]:
        return {name: list(getattr(self, name)) for name in flt.FACETS}


class _Page(BaseModel):
    limit: int = Field(default=10, ge=1, le=100, description="résultats par page (1 à 100)")
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET,
                        description=f"rang du premier résultat renvoyé (0 = début, {MAX_OFFSET} au plus)")


class _FacetLimit(BaseModel):
    facet_limit: int = Field(default=FACET_LIMIT, ge=1, le=10_000,
                             description="valeurs par facette au plus, les plus fréquentes d'abord ; les valeurs "
                                         "cochées sont toujours données en plus")


class _Text(BaseModel):
    q: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="texte libre, en français",
                   examples=[EXAMPLE_QUERY])
    mode: SearchMode = Field(default="hybrid",
                             description="hybrid (mots + sens), semantic (sens seul) ou lexical (mots seuls)")


# Bases listed so that the schema shows q, mode, limit, offset, then the filters.
class SearchParams(FilterParams, _FacetLimit, _Page, _Text):
    """A search: GET /search takes these as query parameters, POST /search as a JSON object."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"q": EXAMPLE_QUERY, "limit": 5, "keyword": ["Alimentation"], "status": ["En cours"]}]
    })


class SearchBody(SearchParams):
    """POST /search's JSON object: the same fields, with JSON's own types only (strict), so that
    `"limit": true` or `"limit": "10"` is a 422 rather than 1 or 10. GET keeps SearchParams, whose numbers
    come as text in the query string."""

    model_config = ConfigDict(strict=True)


class SimilarParams(FilterParams, _FacetLimit, _Page):
    limit: int = Field(default=5, ge=1, le=100, description="résultats par page (1 à 100)")


class ListParams(FilterParams, _FacetLimit, _Page):
    limit: int = Field(default=20, ge=1, le=100, description="actions par page (1 à 100)")


# -- responses --------------------------------------------------------------------------------------
class ErrorDetail(BaseModel):
    code: str = Field(examples=["invalid_parameter"])
    message: str = Field(description="en français, pour les personnes",
                         examples=["Paramètre « limit » invalide."])
    detail: dict[str, Any] | None = Field(
        description="pour les programmes : le paramètre en cause, la raison...",
        examples=[{"parameter": "limit", "reason": "Input should be less than or equal to 100",
                   "location": "query"}],
    )


class ErrorResponse(BaseModel):
    error: ErrorDetail


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
    query: str = Field(description="la requête telle que cherchée (/similar : le titre de l'action source)")
    mode: str
    total: int = Field(description="nombre de fiches qui répondent à la recherche, filtres appliqués : le même sur "
                                   "chaque page ; 0 quand aucune ne répond")
    offset: int
    limit: int
    results: list[ResultOut]
    neighbours: list[ResultOut] = Field(
        description="fiches voisines, moins proches, jamais comptées dans `total` (au plus 5, les mêmes sur chaque "
                    "page)")
    suggestions: SuggestionsOut = Field(description="que tenter quand rien n'est trouvé")
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


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"


class IndexInfo(BaseModel):
    build_id: str
    format_version: int
    built_at: str
    loaded_at: str
    encoder: str
    dimension: int
    actions: int
    chunks: int
    duplicates: int
    warnings: int = Field(description="lignes de l'export corrigées ou ignorées quand cet index a été construit")


class ReindexStatus(BaseModel):
    running: bool
    started_at: str | None = None
    finished_at: str | None = None
    build_id: str | None = Field(default=None, description="dernière reconstruction réussie")
    error: str | None = Field(default=None, description="dernier échec (l'index précédent reste en service)")
    failed_at: str | None = None
    warnings: int = Field(default=0, description="lignes de l'export corrigées ou ignorées par la dernière "
                          "reconstruction (`semsearch reindex` les affiche)")


class ReadyResponse(BaseModel):
    status: Literal["ready"] = "ready"
    index: IndexInfo
    reindex: ReindexStatus
    load_error: str | None = Field(
        default=None, description="pourquoi le dernier index trouvé sur disque n'a pas pu être chargé "
        "(autre encodeur, fichiers abîmés...) ; l'index en service reste celui de `index`"
    )


class ReindexAccepted(BaseModel):
    status: Literal["started"] = "started"
    started_at: str
    follow: str = Field(default="/ready", description="où suivre la reconstruction")


# -- library -> wire --------------------------------------------------------------------------------
def marked_html(passage: Passage) -> str:
    """The passage as safe HTML: the text escaped first, then the matched words wrapped in <mark>."""
    out, last = [], 0
    for start, end in passage.highlights:
        out += [escape(passage.text[last:start]), "<mark>", escape(passage.text[start:end]), "</mark>"]
        last = end
    return "".join([*out, escape(passage.text[last:])])


def from_facets(facets: dict[str, list[flt.FacetValue]]) -> Facets:
    return {name: [FacetValueOut(value=v.value, count=v.count, selected=v.selected) for v in values]
            for name, values in facets.items()}


def from_hit(hit: Hit) -> ResultOut:
    a, p, e = hit.action, hit.passage, hit.explanation
    passage = None if p is None else PassageOut(section=p.section, label=p.label, text=p.text,
                                                 marked=marked_html(p), highlights=p.highlights)
    return ResultOut(
        **ActionCard.model_validate(a.to_dict()).model_dump(), score=hit.score, tier=hit.tier, passage=passage,
        explanation=ExplanationOut(reasons=e.reasons, matched_terms=e.matched_terms,
                                   elsewhere=[FoundOut(word=f.word, places=f.places) for f in e.elsewhere],
                                   lexical_rank=e.lexical_rank, semantic_rank=e.semantic_rank,
                                   semantic_score=e.semantic_score, like=e.like, shared_keywords=e.shared_keywords),
    )


def from_results(results: SearchResults) -> SearchResponse:
    hints = results.suggestions
    return SearchResponse(query=results.query, mode=results.mode, total=results.total, offset=results.offset,
                          limit=results.limit, results=[from_hit(h) for h in results.hits],
                          neighbours=[from_hit(h) for h in results.neighbours],
                          suggestions=SuggestionsOut(spellings=hints.spellings, without_filters=hints.without_filters),
                          facets=from_facets(results.facets))


def from_action(action: Action) -> ActionOut:
    return ActionOut.model_validate(action.to_dict())


def summary_of(action: Action) -> ActionSummaryOut:
    return ActionSummaryOut.model_validate(action.to_dict())
