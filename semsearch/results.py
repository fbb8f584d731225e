"""What a search, a recommendation or a listing returns: typed values the CLI prints and the API converts."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import filters as flt
from .passages import Found, Passage
from .records import Action


@dataclass(frozen=True)
class LikedFiche:
    """A fiche the person liked, as a recommendation names it."""

    id: str
    title: str


@dataclass
class Explanation:
    """Why an action is in the results, for people (`reasons`, in French) and for programs (the rest)."""

    reasons: list[str] = field(default_factory=list)
    matched_terms: list[str] = field(default_factory=list)  # query words highlighted in the passage shown
    elsewhere: list[Found] = field(default_factory=list)  # query words the fiche holds outside that passage
    lexical_rank: int | None = None
    semantic_rank: int | None = None
    semantic_score: float | None = None  # cosine of the best passage
    like: str | None = None  # title of the best match this one resembles (feedback)
    shared_keywords: list[str] = field(default_factory=list)  # similar actions
    shared_words: list[str] = field(default_factory=list)  # similar actions: distinctive words both fiches use
    closest_liked: LikedFiche | None = None  # recommendations: the liked fiche this one is closest to


@dataclass
class Hit:
    action: Action
    score: float
    passage: Passage | None
    explanation: Explanation
    tier: str = "proche"


@dataclass
class Suggestions:
    """What to try when a search finds nothing."""

    spellings: list[str] = field(default_factory=list)  # fiche words close to the query's unknown words
    without_filters: int = 0  # matches of the same query with no filter (0 when no filter is set)


@dataclass
class SearchResults:
    query: str
    mode: str
    total: int  # the matching set, filters applied: the same on every page
    offset: int
    limit: int
    hits: list[Hit]
    facets: dict[str, list[flt.FacetValue]]
    neighbours: list[Hit] = field(default_factory=list)  # weaker neighbours ("voisin"), not counted in total
    suggestions: Suggestions = field(default_factory=Suggestions)
    corrected: str | None = None  # the query as the fiches spell it, when a mistyped word was taken for a fiche word


@dataclass
class Listing:
    """A page of all the actions passing some filters, in export order, with the facet counts."""

    total: int
    actions: list[Action]
    facets: dict[str, list[flt.FacetValue]]
