"""Section-aware chunking: each narrative field of an action is cut on sentence boundaries.

Chunks never cross sections, so a passage shown as evidence can always say where it comes from
("Résultat pour les habitants"). Size and overlap are measured in docs/QUALITY.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .records import Action, Chunk

# Section key -> (French label shown to users, how to read it from an action). Order is display order.
SECTIONS: dict[str, tuple[str, Callable[[Action], str]]] = {
    "overview": ("Titre et mots-clés", lambda a: overview(a)),
    "summary": ("Résumé", lambda a: a.summary),
    "experience": ("Description de l'expérience", lambda a: "\n".join(filter(None, [a.experience, a.initiative_detail]))),
    "description": ("Description générale", lambda a: a.description),
    "result_territory": ("Résultat sur le territoire", lambda a: a.evaluation.territory),
    "result_centre": ("Résultat pour le centre social", lambda a: a.evaluation.centre),
    "result_residents": ("Résultat pour les habitants", lambda a: a.evaluation.residents),
    "limits": ("Limites", lambda a: a.evaluation.limits),
    "perspectives": ("Perspectives", lambda a: a.evaluation.perspectives),
    "end_reasons": ("Raisons de la fin de l'action", lambda a: a.end_reasons),
}

# Chosen by cross-validation over the dev and devplus queries (`semsearch eval --tune`, docs/QUALITY.md) among
# 40, 80, 120 and 200 words, with or without the title: every fold chose passages whose vector reads the fiche's
# title first, and 80 or 120 words; 120 on all the queries. With the whole fiche's own vector beside them,
# passages of that length keep the context a 40-word one lost.
CHUNK_WORDS = 120
OVERLAP_SENTENCES = 1
# What a passage's vector reads besides the passage: "none", or "title" (the fiche's title before it).
CONTEXTS = ("none", "title")
CHUNK_CONTEXT = "title"


@dataclass(frozen=True)
class Chunking:
    """How fiches are cut into passages, and what each passage's vector is computed from."""

    words: int = CHUNK_WORDS
    overlap: int = OVERLAP_SENTENCES
    context: str = CHUNK_CONTEXT

    def __post_init__(self) -> None:
        if self.words < 1 or self.overlap < 0 or self.context not in CONTEXTS:
            raise ValueError(f"bad chunking {self}")

    def embedded(self, action: Action, section: str, text: str) -> str:
        """The text a passage's vector is computed from (the title-and-keywords passage starts with the title)."""
        return f"{action.title}. {text}" if self.context == "title" and section != "overview" else text


DEFAULT_CHUNKING = Chunking()


def section_label(section: str) -> str:
    return SECTIONS[section][0]


def overview(action: Action) -> str:
    """A short whole-action passage: title, dimension, keywords and public say what the action is about."""
    parts = [action.title, action.dimension, ", ".join(action.keywords), action.public]
    return ". ".join(p for p in parts if p)


def whole_text(action: Action) -> str:
    """The whole fiche as one text, section after section: what its fiche vector is computed from."""
    return "\n".join(t for t in (read(action).strip() for _, read in SECTIONS.values()) if t)


def pack(sentences: list[str], max_words: int = CHUNK_WORDS, overlap: int = OVERLAP_SENTENCES) -> list[str]:
    """Greedy packing of whole sentences up to max_words; the last `overlap` sentences open the next chunk.

    A sentence longer than max_words becomes a chunk of its own rather than being cut mid-sentence.
    """
    chunks: list[str] = []
    current: list[str] = []
    words = 0
    for sentence in sentences:
        n = len(sentence.split())
        if current and words + n > max_words:
            chunks.append(" ".join(current))
            current = current[-overlap:] if overlap and len(current) > overlap else []
            words = sum(len(s.split()) for s in current)
        current.append(sentence)
        words += n
    if current:  # always holds at least one sentence not yet emitted
        chunks.append(" ".join(current))
    return chunks


def chunk_action(
    action: Action,
    split_sentences: Callable[[str], list[str]],
    max_words: int = CHUNK_WORDS,
    overlap: int = OVERLAP_SENTENCES,
) -> list[Chunk]:
    """All chunks of one action, section by section, in display order."""
    chunks: list[Chunk] = []
    for section, text in section_texts(action):
        for position, passage in enumerate(pack(split_sentences(text), max_words, overlap)):
            chunks.append(Chunk(action.id, section, position, passage))
    return chunks


def section_texts(action: Action) -> list[tuple[str, str]]:
    """(section, text) of each section the action fills, in display order: what is cut into sentences."""
    return [(section, text) for section, (_, read) in SECTIONS.items() if (text := read(action).strip())]
