"""A search over an index, stage by stage: its ranking (ranking.py: query analysis, lexical and dense evidence,
their fusion into one score and one matching set, the page's rows), then the page: filters and facets
(filters.py), passages and reasons (passages.py). Similar actions and recommendations from several fiches are in
similar.py.

One search defines one set of matching actions, independent of paging and filters: `total`, the facet counts
and every page are computed over that set intersected with the filters. Weaker neighbours come apart.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import filters as flt
from . import store
from .cores import CoreShare
from .duplicates import DEFAULT_THRESHOLD, DuplicateFinder, DuplicateReport
from .encoders import Encoder
from .errors import InvalidQuery, NotFound
from .fusion import MODES, Fused, Ranking
from .lexical import LexicalIndex
from .loading import Index
from .passages import Passage, closest, evidence
from .query import QueryAnalyser
from .ranking import QueryEvidence, Ranker
from .records import Action
from .results import Explanation, Hit, Listing, SearchResults, Suggestions
from .semantic import DenseSearch
from .similar import Recommender, SimilarWeights, examples, page
from .vectors import inner_products

__all__ = ["MODES", "Hit", "Listing", "Passage", "SearchResults", "Searcher"]

MAX_QUERY_CHARS = 500
# Values listed per facet unless asked otherwise: at 10 000 actions `structure` has thousands, and building and
# sending them all cost more than the search itself. Selected values are always listed.
FACET_LIMIT = 50
# A result "resembles the best match" (a reason shown) when its similarity to it stands this far above the rest.
RESEMBLES_Z = 1.5


@dataclass(frozen=True)
class _Query(QueryEvidence):
    """Everything one search computed before paging: reused by the page, the reasons and the suggestions."""

    fused: Fused


class Searcher:
    """Everything a query needs, loaded once: the index, the encoder, the lexicon."""

    def __init__(self, index: Index, encoder: Encoder, ranking: Ranking | None = None,
                 similar_weights: SimilarWeights | None = None) -> None:
        self.index, self.encoder = index, encoder
        db = index.db
        self.analyser = QueryAnalyser(store.lexicon(db), store.spellings(db), store.stop_words(db))
        self.lexical = LexicalIndex(index.postings)
        owners = store.chunk_owners(db)
        chunk_action = np.zeros(int(owners[:, 0].max(initial=0)) + 1, dtype=np.int64)
        chunk_action[owners[:, 0]] = owners[:, 1]
        rows = store.action_rows(db)
        self._rowids = {id_: rowid for rowid, id_, _, _ in rows}
        self._ids = {rowid: id_ for id_, rowid in self._rowids.items()}
        size = max(self._rowids.values(), default=0) + 1
        # Export order of each action rowid: ties rank in export order, and a patched build (whose new rows come
        # last) ranks exactly as a full build (index.py).
        self._position = np.zeros(size, dtype=np.int64)
        self._identity = np.full(size, -1, dtype=np.int64)  # copies share a code; similar() skips them
        codes: dict[str, int] = {}
        for rowid, _, position, ident in rows:
            self._position[rowid] = position
            self._identity[rowid] = codes.setdefault(ident, len(codes))
        self._facets = flt.FacetTable(db)
        self._exists = self._facets.pool(None)
        # The IVF scan joins the encoder's share of the cores when it has one (the e5 encoders).
        self.cores: CoreShare = getattr(encoder, "cores", None) or CoreShare()
        self.dense = DenseSearch(index, chunk_action, size, self.cores)
        self.recommender = Recommender(self.lexical, self.dense.like, self._facets, self._action, self._exists,
                                       self._identity, similar_weights or SimilarWeights())
        self.ranker = Ranker(self.analyser, self.lexical, self.dense, encoder, self._exists, self._position,
                             self.action_id, ranking or Ranking())
        self._duplicates = DuplicateFinder(index)  # scores its pairs on the first report only

    # -- public -----------------------------------------------------------------------------------
    def search(self, query: str, filters: flt.Filters | None = None, limit: int = 10, offset: int = 0,
               mode: str = "hybrid", facet_limit: int | None = FACET_LIMIT) -> SearchResults:
        query = " ".join(query.split())
        if not query:
            raise InvalidQuery("q", "la requête est vide")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidQuery("q", f"la requête dépasse {MAX_QUERY_CHARS} caractères")
        if mode not in MODES:
            raise InvalidQuery("mode", f"mode inconnu « {mode} » ; modes possibles : {', '.join(MODES)}")
        _check_page(limit, offset, facet_limit)
        chosen = flt.check(filters)
        found = self.ranker.evidence(query, mode)
        q = _Query(found.words, found.lexical, found.semantic, found.vector, self.ranker.fuse(found, mode))
        rows = self.ranker.page(q.fused, self._facets.mask(chosen), offset, limit)
        best = q.fused.feedback_from
        like = self._action(best).title if best is not None else None
        built = self._hits(q, np.concatenate([rows.results, rows.neighbours]).tolist(), like)
        hits = built[:len(rows.results)]
        neighbours = [replace(h, tier="voisin") for h in built[len(rows.results):]]
        suggestions = Suggestions()
        if not rows.total:
            suggestions = Suggestions(self.analyser.suggestions(q.words),
                                      int(np.count_nonzero(q.fused.matches)) if chosen else 0)
        facets = self._facets.counts(np.flatnonzero(q.fused.matches), chosen, facet_limit)
        corrected = self.analyser.corrected(query) if rows.total else None
        return SearchResults(query, mode, rows.total, offset, limit, hits, facets, neighbours, suggestions,
                             corrected)

    def _hits(self, q: _Query, rowids: list[int], like: str | None) -> list[Hit]:
        """Results with their passage and reasons, the records and passages of a page read at once; `like`:
        the title of the best match feedback came from."""
        actions = store.records(self.index.db, rowids)
        passages = store.passages_of(self.index.db, rowids)
        cosines: dict[int, list[float]] = {}
        if q.vector is not None:
            chunk_ids = np.asarray([p.rowid for r in rowids for p in passages[r]], dtype=np.int64)
            # as the dense stage computes them, so that equal passages tie alike
            every = inner_products(self.index.chunk_vectors(chunk_ids), q.vector)
            ends = np.cumsum([len(passages[r]) for r in rowids])[:-1]
            cosines = {r: part.tolist() for r, part in zip(rowids, np.split(every, ends))}
        fused = q.fused
        hits = []
        for rowid, action in zip(rowids, actions, strict=True):
            held = q.lexical.held(rowid) if q.lexical.holders else [False] * len(q.words)
            found = evidence(self.analyser.cut.terms_of, action, passages[rowid], q.words, held,
                             cosines.get(rowid))
            e = Explanation(matched_terms=found.in_passage, elsewhere=found.elsewhere)
            if fused.lexical[rowid] > 0:
                e.lexical_rank = self.ranker.rank_of(fused.lexical, rowid)
            if q.semantic is not None:
                e.semantic_rank = self.ranker.rank_of(fused.semantic, rowid)
                e.semantic_score = float(q.semantic.cosines[rowid]) if q.semantic.chunks[rowid] else None
            if like is not None and fused.feedback_from != rowid and fused.feedback[rowid] >= RESEMBLES_Z:
                e.like = like
            e.reasons = _reasons(e)
            hits.append(Hit(action, float(fused.score[rowid]), found.passage, e))
        return hits

    def similar(self, action_id: str, filters: flt.Filters | None = None, limit: int = 5,
                offset: int = 0, facet_limit: int | None = FACET_LIMIT) -> SearchResults:
        """Other actions closest to one (similar.py), never the action itself nor a copy of it."""
        _check_page(limit, offset, facet_limit)
        chosen = flt.check(filters)
        source_row = self.rowid(action_id)
        source = self._action(source_row)
        candidates = self.recommender.candidates(source_row)
        ranked = page(candidates.score, self._facets.mask(chosen))

        def passage_of(rowid: int, terms: set[str]) -> Passage | None:
            return self._passage_near(rowid, source_row, terms)

        hits = [self.recommender.hit(source, int(r), float(candidates.score[r]), candidates.terms,
                                     self.analyser.display, passage_of) for r in ranked[offset:offset + limit]]
        facets = self._facets.counts(np.flatnonzero(np.isfinite(candidates.score)), chosen, facet_limit)
        return SearchResults(source.title, "similar", len(ranked), offset, limit, hits, facets)

    def recommend(self, like: list[str], unlike: list[str] | None = None, filters: flt.Filters | None = None,
                  limit: int = 10, offset: int = 0, facet_limit: int | None = FACET_LIMIT) -> SearchResults:
        """Actions close to several liked ones and away from unliked ones (similar.py), never one of them nor a
        copy; `query` is the liked fiches' titles, joined by " ; "."""
        _check_page(limit, offset, facet_limit)
        chosen = flt.check(filters)
        like, unlike = examples(like, unlike or [])
        liked_rows, unliked_rows = [self.rowid(i) for i in like], [self.rowid(i) for i in unlike]
        liked_copies = set(self._identity[liked_rows].tolist())
        for action_id, row in zip(unlike, unliked_rows):
            if int(self._identity[row]) in liked_copies:
                raise InvalidQuery("unlike", f"« {action_id} » est une copie d'une fiche aimée : une fiche ne peut "
                                             f"pas être à la fois aimée et écartée")
        liked = [self._action(r) for r in liked_rows]
        blend = self.recommender.blend(liked_rows, unliked_rows)
        ranked = page(blend.score, self._facets.mask(chosen))

        def passage_of(rowid: int, near: int, terms: set[str]) -> Passage | None:
            return self._passage_near(rowid, liked_rows[near], terms)

        hits = [self.recommender.recommendation(liked, blend, int(r), self.analyser.display, passage_of)
                for r in ranked[offset:offset + limit]]
        facets = self._facets.counts(np.flatnonzero(np.isfinite(blend.score)), chosen, facet_limit)
        return SearchResults(" ; ".join(a.title for a in liked), "recommend", len(ranked), offset, limit, hits,
                             facets)

    def _passage_near(self, rowid: int, source_row: int, terms: set[str]) -> Passage | None:
        """The passage of an action closest to another action's fiche vector, `terms` highlighted."""
        target = self.index.fiche_matrix[int(np.searchsorted(self.index.fiche_ids, source_row))]
        passages = store.passages_of(self.index.db, [rowid])[rowid]
        vectors = self.index.chunk_vectors(np.asarray([p.rowid for p in passages], dtype=np.int64))
        cosines = inner_products(vectors, target)
        return closest(passages, cosines, terms)

    def duplicates(self, threshold: float = DEFAULT_THRESHOLD, limit: int = 20, offset: int = 0) -> DuplicateReport:
        """Pairs of fiches that are near duplicates (duplicates.py), exact duplicates of the export first."""
        _check_page(limit, offset)
        return self._duplicates.report(threshold, limit, offset)

    def listing(self, filters: flt.Filters | None = None, limit: int = 20, offset: int = 0,
                facet_limit: int | None = FACET_LIMIT) -> Listing:
        _check_page(limit, offset, facet_limit)
        chosen = flt.check(filters)
        rows = sorted(self._facets.restrict(None, chosen), key=self._position.__getitem__)
        page_ = [self._action(r) for r in rows[offset:offset + limit]]
        return Listing(len(rows), page_, self._facets.counts(None, chosen, facet_limit))

    def get(self, action_id: str) -> Action:
        return self._action(self.rowid(action_id))

    def action_id(self, rowid: int) -> str:
        return self._ids[rowid]

    def rowid(self, action_id: str) -> int:
        try:
            return self._rowids[action_id]
        except KeyError:
            raise NotFound(action_id) from None

    def _action(self, rowid: int) -> Action:
        return store.record(self.index.db, rowid)


def _reasons(e: Explanation) -> list[str]:
    """Why a result is there, in plain French and without scores."""
    out = []
    if e.matched_terms:
        out.append(f"Mots trouvés dans le passage : {', '.join(e.matched_terms)}")
    for f in e.elsewhere:
        out.append(f"« {f.word} » aussi dans : {', '.join(f.places)}")
    if not e.matched_terms and not e.elsewhere:
        out.append("Aucun mot de la recherche, mais un sens proche")
    if e.like:
        out.append(f"Ressemble à « {e.like} », la fiche la plus proche de la recherche")
    return out


def _check_page(limit: int, offset: int, facet_limit: int | None = None) -> None:
    if facet_limit is not None and facet_limit < 1:
        raise InvalidQuery("facet_limit", "doit valoir 1 ou plus")
    if not 1 <= limit <= 100:
        raise InvalidQuery("limit", "doit être entre 1 et 100")
    if offset < 0:
        raise InvalidQuery("offset", "doit valoir 0 ou plus")
