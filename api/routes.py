"""The routes: thin over semsearch.search, each one validating its input, calling the library, converting.

Sync functions on purpose: FastAPI runs them in its thread pool, so a search (SQLite, FAISS, the encoder
behind its lock) never blocks the event loop.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from semsearch.search import Searcher

from . import models as m
from .errors import ApiError, without_paths
from .service import Service

router = APIRouter()
_bearer = HTTPBearer(auto_error=False, description="SEMSEARCH_ADMIN_TOKEN")


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error responses a route may give, all in the one error shape."""
    return {s: {"model": m.ErrorResponse} for s in statuses}


def service(request: Request) -> Service:
    return request.app.state.service


def searcher(request: Request) -> Iterator[Searcher]:
    """The Searcher live when the request starts, kept for the whole request even if a reindex swaps it."""
    with service(request).lease() as leased:
        request.state.index_version = leased.index.manifest.build_id
        yield leased


Live = Annotated[Searcher, Depends(searcher)]


# -- search -----------------------------------------------------------------------------------------
@router.get("/search", response_model=m.SearchResponse, tags=["recherche"], responses=_errors(422, 503),
            summary="Recherche en texte libre, avec filtres et facettes")
def search_get(live: Live, params: Annotated[m.SearchParams, Query()]) -> m.SearchResponse:
    """Filtres répétables (`keyword=Alimentation&keyword=Santé` : l'un ou l'autre), combinés entre eux
    (`keyword=…&status=En cours` : les deux). `total`, les facettes et chaque page portent sur le même
    ensemble d'actions trouvées."""
    return _search(live, params)


@router.post("/search", response_model=m.SearchResponse, tags=["recherche"], responses=_errors(413, 422, 503),
             summary="Recherche, paramètres en JSON")
def search_post(live: Live, params: Annotated[m.SearchBody, Body()]) -> m.SearchResponse:
    """Les mêmes paramètres que `GET /search`, dans un objet JSON ; les filtres sont des listes."""
    return _search(live, params)


def _search(live: Searcher, params: m.SearchParams) -> m.SearchResponse:
    results = live.search(params.q, params.filters(), params.limit, params.offset, params.mode, params.facet_limit)
    return m.from_results(results)


@router.get("/similar/{action_id}", response_model=m.SearchResponse, tags=["recherche"],
            responses=_errors(404, 422, 503), summary="Actions comparables à une action")
def similar(live: Live, action_id: str, params: Annotated[m.SimilarParams, Query()]) -> m.SearchResponse:
    """Les actions les plus proches par le sens et par les mots-clés, jamais l'action elle-même."""
    return m.from_results(live.similar(action_id, params.filters(), params.limit, params.offset, params.facet_limit))


@router.post("/recommend", response_model=m.SearchResponse, tags=["recherche"],
             responses=_errors(404, 413, 422, 503),
             summary="Projets qui pourraient inspirer, d'après plusieurs fiches aimées (et d'autres écartées)")
def recommend(live: Live, params: Annotated[m.RecommendBody, Body()]) -> m.SearchResponse:
    """Les fiches les plus proches des fiches aimées (`like`, une au moins), par le sens, les mots et les
    mots-clés, et éloignées des fiches écartées (`unlike`) ; jamais l'une d'elles. Chaque résultat nomme la
    fiche aimée dont il est le plus proche (`explanation.closest_liked`) et dit pourquoi. Filtres et pages
    comme `POST /search`."""
    return m.from_results(live.recommend(params.like, params.unlike, params.filters(), params.limit, params.offset,
                                         params.facet_limit))


# -- actions and facets -----------------------------------------------------------------------------
@router.get("/actions/{action_id}", response_model=m.ActionOut, tags=["actions"], responses=_errors(404, 503),
            summary="La fiche complète d'une action")
def get_action(live: Live, action_id: str) -> m.ActionOut:
    return m.from_action(live.get(action_id))


@router.get("/actions", response_model=m.ActionListResponse, tags=["actions"], responses=_errors(422, 503),
            summary="Toutes les actions, filtrées, par pages (ordre de l'export)")
def list_actions(live: Live, params: Annotated[m.ListParams, Query()]) -> m.ActionListResponse:
    listing = live.listing(params.filters(), params.limit, params.offset, params.facet_limit)
    return m.ActionListResponse(total=listing.total, offset=params.offset, limit=params.limit,
                                actions=[m.summary_of(a) for a in listing.actions],
                                facets=m.from_facets(listing.facets))


@router.get("/facets", response_model=m.FacetsResponse, tags=["actions"], responses=_errors(422, 503),
            summary="Toutes les valeurs de chaque facette, avec le nombre d'actions")
def facets(live: Live, params: Annotated[m.FilterParams, Query()]) -> m.FacetsResponse:
    listing = live.listing(params.filters(), limit=1, facet_limit=None)
    return m.FacetsResponse(total=listing.total, facets=m.from_facets(listing.facets))


@router.get("/duplicates", response_model=m.DuplicatesResponse, tags=["actions"], responses=_errors(422, 503),
            summary="Rapport des doublons : fiches envoyées deux fois ou recopiées avec de petites modifications")
def duplicates(live: Live, params: Annotated[m.DuplicatesParams, Query()]) -> m.DuplicatesResponse:
    """Les paires de fiches presque identiques, de la plus semblable à la moins semblable, chacune avec sa
    similarité (0 à 1), les champs qui diffèrent et les différences des résumés ; d'abord les doublons exacts
    fusionnés à la lecture de l'export, avec leurs numéros de ligne."""
    return m.from_duplicates(live.duplicates(params.threshold, params.limit, params.offset))


# -- service ----------------------------------------------------------------------------------------
@router.get("/health", response_model=m.HealthResponse, tags=["service"], summary="Le processus répond")
def health() -> m.HealthResponse:
    return m.HealthResponse()


@router.get("/ready", response_model=m.ReadyResponse, tags=["service"], responses=_errors(503),
            summary="L'index est chargé : lequel, depuis quand, et la dernière reconstruction")
def ready(request: Request) -> Any:
    svc = service(request)
    reindex = m.ReindexStatus(**svc.reindex_status())
    load_error = svc.load_error
    with svc.lease() as live:  # 503 in the error shape while no index is loaded
        manifest = live.index.manifest
        request.state.index_version = manifest.build_id
        index = m.IndexInfo(build_id=manifest.build_id, format_version=manifest.format_version,
                            built_at=manifest.built_at, loaded_at=svc.loaded_at, encoder=manifest.encoder,
                            dimension=manifest.dimension, actions=manifest.actions, chunks=manifest.chunks,
                            duplicates=manifest.duplicates, warnings=manifest.warnings)
    answer = m.ReadyResponse(index=index, reindex=reindex, load_error=load_error)
    # Failure messages name files on the server: relative to the index directory here, whole in the log.
    return without_paths(answer.model_dump(mode="json"), svc.settings.index_dir)


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _admin(request: Request, credentials: Credentials) -> None:
    token = request.app.state.settings.admin_token
    if not token:  # administration disabled: the route does not exist
        raise ApiError(404, "not_found", "Ressource introuvable.")
    if credentials is None:
        raise ApiError(401, "unauthorized", "Jeton d'administration requis (Authorization: Bearer …).",
                       headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(credentials.credentials.encode(), token.encode()):
        raise ApiError(403, "forbidden", "Jeton d'administration refusé.")


@router.post("/admin/reindex", response_model=m.ReindexAccepted, status_code=202, tags=["administration"],
             responses=_errors(401, 403, 404, 409, 413, 429), dependencies=[Depends(_admin)],
             summary="Reconstruire l'index en arrière-plan, sans interrompre la recherche")
def reindex(request: Request) -> m.ReindexAccepted:
    """Relit l'export (SEMSEARCH_SOURCE), construit un nouvel index à côté de l'actuel puis le met en
    service d'un coup ; en cas d'échec l'ancien reste en service et `/ready` donne la raison. 404 si
    SEMSEARCH_ADMIN_TOKEN n'est pas défini, 409 si une reconstruction est déjà en cours."""
    return m.ReindexAccepted(started_at=service(request).start_reindex())
