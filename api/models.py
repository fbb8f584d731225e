"""The HTTP wire format: pydantic models of the requests and of the service's own answers (errors, /ready,
/admin). The result models and their conversion from library values are semsearch.wire's, shared with the
CLI's --json, and re-exported here for the routes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from semsearch import filters as flt
from semsearch.duplicates import DEFAULT_THRESHOLD
from semsearch.search import FACET_LIMIT, MAX_QUERY_CHARS
from semsearch.similar import MAX_EXAMPLES
from semsearch.wire import (
    ActionCard,
    ActionListResponse,
    ActionOut,
    ActionSummaryOut,
    DuplicateFicheOut,
    DuplicatePairOut,
    DuplicatesResponse,
    EvaluationOut,
    ExplanationOut,
    Facets,
    FacetsResponse,
    FacetValueOut,
    FoundOut,
    LikedOut,
    PassageOut,
    ResultOut,
    SearchResponse,
    SuggestionsOut,
    from_action,
    from_duplicates,
    from_facets,
    from_hit,
    from_results,
    summary_of,
)

__all__ = [
    "ActionCard",
    "ActionListResponse",
    "ActionOut",
    "ActionSummaryOut",
    "DuplicateFicheOut",
    "DuplicatePairOut",
    "DuplicatesResponse",
    "EvaluationOut",
    "ExplanationOut",
    "FacetValueOut",
    "Facets",
    "FacetsResponse",
    "FoundOut",
    "LikedOut",
    "PassageOut",
    "ResultOut",
    "SearchResponse",
    "SuggestionsOut",
    "from_action",
    "from_duplicates",
    "from_facets",
    "from_hit",
    "from_results",
    "summary_of",
]

EXAMPLE_QUERY = "précarité alimentaire en rural"
EXAMPLE_LIKE = ["seniors-prevention-des-chutes-269be8", "covid-et-apres-d21623"]  # ids of the sample export
EXAMPLE_UNLIKE = ["tiers-lieu-numerique-0e7eb6"]
MAX_FILTER_VALUES = 20
# Deep pages are for programs walking a listing, and the index holds thousands of fiches, not millions: a
# bound keeps `offset + limit` a small number everywhere below (ranking keeps that many results).
MAX_OFFSET = 10_000
FilterValue = Annotated[str, StringConstraints(max_length=200)]
FilterValues = Annotated[list[FilterValue], Field(max_length=MAX_FILTER_VALUES)]
ActionId = Annotated[str, StringConstraints(max_length=200)]
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


class _Examples(BaseModel):
    like: list[ActionId] = Field(min_length=1, max_length=MAX_EXAMPLES, examples=[EXAMPLE_LIKE],
                                 description=f"identifiants des fiches aimées (1 au moins ; {MAX_EXAMPLES} fiches "
                                             f"au plus avec unlike)")
    unlike: list[ActionId] = Field(default=[], max_length=MAX_EXAMPLES, examples=[EXAMPLE_UNLIKE],
                                   description="identifiants des fiches dont on ne veut pas d'autres pareilles")


class RecommendBody(FilterParams, _FacetLimit, _Page, _Examples):
    """POST /recommend's JSON object: liked and unliked fiches, then the page and the filters of POST /search,
    strict like SearchBody."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={
        "examples": [{"like": EXAMPLE_LIKE, "unlike": EXAMPLE_UNLIKE, "limit": 5, "status": ["En cours"]}]
    })


class ListParams(FilterParams, _FacetLimit, _Page):
    limit: int = Field(default=20, ge=1, le=100, description="actions par page (1 à 100)")


class DuplicatesParams(BaseModel):
    """GET /duplicates: the threshold and the page."""

    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(default=DEFAULT_THRESHOLD, ge=0.0, le=1.0, allow_inf_nan=False,
                             description=f"similarité minimale des paires listées, de 0 à 1 (défaut : "
                                         f"{DEFAULT_THRESHOLD}, choisi sur des paires étiquetées, docs/QUALITY.md)")
    limit: int = Field(default=20, ge=1, le=100, description="paires par page (1 à 100)")
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET,
                        description=f"rang de la première paire renvoyée (0 = début, {MAX_OFFSET} au plus)")


# -- responses --------------------------------------------------------------------------------------
class ErrorDetail(BaseModel):
    code: str = Field(examples=["invalid_parameter"])
    message: str = Field(description="en français, pour les personnes",
                         examples=["Paramètre « limit » invalide."])
    detail: dict[str, Any] | None = Field(
        description="pour les programmes : le paramètre en cause, la raison...",
        examples=[{"parameter": "limit", "reason": "doit valoir 100 ou moins",
                   "location": "query"}],
    )


class ErrorResponse(BaseModel):
    error: ErrorDetail


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
