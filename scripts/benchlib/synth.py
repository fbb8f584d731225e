"""The synthetic corpus: the sample export scaled to N actions, and a build cache filled with analyses and
passage vectors derived from the real ones of its sentences."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Sequence
from itertools import chain

import numpy as np

from semsearch import store
from semsearch.analysis import AnalysedChunk, Analysis, Span, analysis_key, lexical_fields, sha
from semsearch.chunking import SECTIONS, overview, pack, whole_text
from semsearch.corpus import load_actions, make_ids
from semsearch.nlp import FrenchNLP, Term, clean
from semsearch.records import Action, Evaluation

from . import CHUNKING, QUERIES, ROOT

SAMPLE = ROOT / "data" / "actions-maine-et-loire.txt"
NARRATIVE = ["summary", "experience", "description", "end_reasons"]
EVALUATION = ["territory", "centre", "residents", "limits", "perspectives"]
DEPARTMENTS = ["Ain", "Aisne", "Allier", "Ardèche", "Aude", "Aveyron", "Calvados", "Cantal", "Charente", "Cher",
               "Corrèze", "Côte-d'Or", "Creuse", "Dordogne", "Doubs", "Drôme", "Eure", "Finistère", "Gard", "Gers",
               "Gironde", "Hérault", "Isère", "Jura", "Landes", "Loire", "Loiret", "Lot", "Manche", "Marne",
               "Mayenne", "Meuse", "Morbihan", "Moselle", "Nièvre", "Nord", "Oise", "Orne", "Rhône", "Sarthe",
               "Savoie", "Somme", "Tarn", "Var", "Vendée", "Vienne", "Vosges", "Yonne", "Maine-et-Loire", "Paris"]
PLACES = ["des Tilleuls", "du Lac", "de la Gare", "des Coteaux", "du Marais", "Saint-Jean", "des Prés", "du Moulin",
          "Jean Moulin", "Victor Hugo", "de la Source", "des Vignes", "du Château", "Louise Michel", "des Bruyères"]
NOISE = 0.01  # per-dimension noise on derived vectors: cosine ~0.98 with the unperturbed mean
FILL_BATCH = 2000  # actions per pre-fill batch: one transaction each, ~100 MB of gathered vectors
# Digits are not index terms, so the terms of a generated structure ("Centre social du Lac 1234") are computed
# once per place, not once per structure.
_STRUCTURE = re.compile(r"^(Centre social \D+) \d+$")


def _template(text: str) -> str:
    return _STRUCTURE.sub(r"\1 0", text)



class Synthesizer:
    """Scales the sample to N actions and fills a build cache with their analyses and passage vectors."""

    def __init__(self, nlp: FrenchNLP, encoder, pool: int, bases: int = 24, seed: int = 7) -> None:
        self.nlp, self.encoder, self.rng = nlp, encoder, random.Random(seed)
        self.sample = load_actions(SAMPLE).actions[:bases]
        fields = NARRATIVE + [f"evaluation.{f}" for f in EVALUATION]
        split = {(b, f): nlp.sentences(_get(a, f)) for b, a in enumerate(self.sample) for f in fields}
        self.lengths = {key: len(ss) for key, ss in split.items()}
        everything = sorted({s for ss in split.values() for s in ss})
        # Only sentences spaCy gives back whole when alone on a line: a field made of them, one per line, is
        # then cut by the real chunking into exactly these sentences, so the derived chunk texts are the real ones.
        stable = [s for s in everything if nlp.sentences(s) == [s]]
        kept = set(random.Random(seed).sample(stable, min(pool, len(stable))))
        stable_set = set(stable)
        for f in fields:  # every field that has stable sentences keeps at least one
            of_field = [s for b in range(len(self.sample)) for s in split[(b, f)] if s in stable_set]
            if of_field and not kept.intersection(of_field):
                kept.add(of_field[0])
        self.pool = sorted(kept)
        self.index_of = {s: i for i, s in enumerate(self.pool)}
        self.by_field = {f: list(dict.fromkeys(self.index_of[s] for b in range(len(self.sample))
                                               for s in split[(b, f)] if s in kept)) for f in fields}
        self.by_field = {f: ids for f, ids in self.by_field.items() if ids}
        analysed = list(nlp.terms_many(self.pool))  # the real analysis of every sentence, once
        self.lexical_terms: list[list[Term]] = analysed
        # Queries take their words from one sentence, as someone names a topic: words drawn from anywhere rarely
        # describe one fiche, and a page of nothing measured the search's shortest path.
        topical = ([(t.text, t.surface) for t in terms if len(t.surface) >= 4 and t.surface.isalpha()]
                   for terms in analysed)
        self.topics = [list(dict.fromkeys(words)) for words in topical if len(set(words)) >= 2]
        t = time.perf_counter()
        # Rows 0..P-1: the real vectors of the pool sentences; row P + b: the real overview of sample action b.
        self.vectors = np.concatenate([embed(encoder, self.pool),
                                       embed(encoder, [overview(a) for a in self.sample])]).astype(np.float32)
        self.sentence_embed_s = time.perf_counter() - t
        self.short: dict[str, list[Term]] = {}  # template of a short field or line -> its real terms
        self.overviews: dict[str, list[tuple[str, tuple[Span, ...]]]] = {}  # overview -> its real (passage, spans)
        self.base_of = {self.title(b, i): b for b in range(len(self.sample))
                        for i in range(b, len(self.sample) * len(PLACES), len(self.sample))}

    def title(self, b: int, i: int) -> str:
        """360 titles (24 x 15 places) shared by many actions, as "Atelier numérique" is; ids stay distinct."""
        return f"{self.sample[b].title} {PLACES[(i // len(self.sample)) % len(PLACES)]}"

    def actions(self, n: int, start: int = 0) -> list[Action]:
        out = []
        for i in range(start, start + n):
            b = i % len(self.sample)
            base, other = self.sample[b], self.rng.choice(self.sample)
            a = Action(id="", title=self.title(b, i), status=base.status,
                       dimension=other.dimension, keywords=list(base.keywords), public=other.public,
                       structure=f"Centre social {PLACES[(i // 7) % len(PLACES)]} {i // 3}",
                       department=DEPARTMENTS[self.rng.randrange(len(DEPARTMENTS))], territory=base.territory,
                       partners=list(other.partners), initiative=list(base.initiative), evaluation=Evaluation())
            for f, ids in self.by_field.items():
                if _get(base, f) or self.rng.random() < 0.3:
                    k = max(1, min(len(ids), self.lengths[(b, f)] or 2))
                    _set(a, f, "\n".join(self.pool[j] for j in self.rng.sample(ids, k)))
            out.append(a)
        for a, id_ in zip(out, make_ids(out)):
            a.id = id_
        return out

    def fill_cache(self, actions: Sequence[Action], cache: store.BuildCache, batch: int = FILL_BATCH) -> dict:
        """Analyses and passage vectors of synthetic `actions`, derived from their sentences', into the cache.

        Per action only list concatenations and hashes; the vectors of a batch are one gather and one noise
        draw. Rows are written in key order (actions sorted by analysis key, vectors by passage key), so
        SQLite appends to its B-trees instead of splitting random pages: 4x faster for 400 000 vectors here.
        """
        rng = np.random.default_rng(len(actions))
        keyed = sorted(((analysis_key(a, self.nlp.model, CHUNKING), a) for a in actions), key=lambda ka: ka[0])
        rows: dict[bytes, int] = {}  # passage key -> its row in `blocks` (a passage shared by actions: once)
        blocks: list[np.ndarray] = []
        passages = 0
        for start in range(0, len(keyed), batch):
            part = keyed[start:start + batch]
            self._analyse_short([a for _, a in part])
            analyses, keys, members, counts = [], [], [], []
            for key, a in part:
                analysis, vector_rows = self.analysis(a)
                analyses.append((key, analysis))
                for chunk, chunk_rows in zip(analysis.chunks, vector_rows):
                    keys.append(sha(CHUNKING.embedded(a, chunk.section, chunk.text)))
                    members += chunk_rows
                    counts.append(len(chunk_rows))
                # the whole fiche's vector: the mean of all its passages' sentences
                keys.append(sha(whole_text(a)))
                whole = list(chain.from_iterable(vector_rows))
                members += whole
                counts.append(len(whole))
            cache.put_analyses(analyses)
            vectors = self._derived_vectors(np.asarray(members, np.int64), np.asarray(counts, np.int64), rng)
            new = {k: i for i, k in enumerate(keys) if k not in rows}
            offset = len(rows)
            rows.update((k, offset + j) for j, k in enumerate(new))
            blocks.append(vectors[list(new.values())])
            passages += len(keys) - len(part)  # one whole-fiche vector per action besides its passages
        vectors = np.concatenate(blocks) if blocks else np.zeros((0, self.vectors.shape[1]), np.float32)
        del blocks
        ordered = sorted(rows)
        for start in range(0, len(ordered), 20 * batch):
            part = ordered[start:start + 20 * batch]
            cache.put_vectors(self.encoder.name, part, vectors[[rows[k] for k in part]])
        return {"actions": len(actions), "passages": passages, "passage_writes": len(ordered)}

    def analysis(self, a: Action) -> tuple[Analysis, list[list[int]]]:
        """What analyse_actions returns for `a`, from the per-sentence analyses; and, per chunk, the rows of
        self.vectors whose mean is its vector."""
        lexical = {column: self._text_terms(text) for column, text in lexical_fields(a).items()}
        chunks: list[AnalysedChunk] = []
        rows: list[list[int]] = []
        for section, (_, read) in SECTIONS.items():
            text = read(a).strip()
            if not text:
                continue
            if section == "overview":  # real chunks and terms, once per distinct overview
                for position, (passage, spans) in enumerate(self.overviews[text]):
                    chunks.append(AnalysedChunk(section, position, passage, spans))
                    rows.append([len(self.pool) + self.base_of[a.title]])
                continue
            lines = text.split("\n")
            ids = [self.index_of[line] for line in lines]  # KeyError: not a synthetic action
            texts = pack(lines, CHUNKING.words, CHUNKING.overlap)
            for position, (passage, run) in enumerate(zip(texts, _runs(lines, texts))):
                members = ids[run.start:run.stop]
                spans: list[Span] = []
                at = 0  # a passage joins its sentences with one space
                for j in members:
                    spans += [Span(t.start + at, t.end + at, t.term) for t in self.lexical_terms[j]]
                    at += len(self.pool[j]) + 1
                chunks.append(AnalysedChunk(section, position, passage, tuple(spans)))
                rows.append(members)
        return Analysis(lexical, chunks), rows

    def _text_terms(self, text: str) -> list[Term]:
        """Terms of a lexical column, line by line: pool sentences and short lines analysed once each."""
        out: list[Term] = []
        for line in text.split("\n"):
            j = self.index_of.get(line)
            out += self.lexical_terms[j] if j is not None else self._short_terms(line)
        return out

    def _short_terms(self, text: str) -> list[Term]:
        key = _template(text)
        if key not in self.short:
            self.short[key] = self.nlp.terms(key)
        return self.short[key]

    def _analyse_short(self, actions: Sequence[Action]) -> None:
        """Real analysis of the short texts and overviews of a batch not seen yet, in one spaCy pipe each,
        instead of one call per text (what made the pre-fill take minutes)."""
        short, overviews = set(), set()
        for a in actions:
            for text in lexical_fields(a).values():
                short.update(_template(line) for line in text.split("\n") if line not in self.index_of)
            overviews.add(SECTIONS["overview"][1](a).strip())
        missing = sorted(short - self.short.keys())
        for key, terms in zip(missing, self.nlp.terms_many(missing)):
            self.short[key] = terms
        missing = sorted(overviews - self.overviews.keys())
        chunks = [pack(sentences, CHUNKING.words, CHUNKING.overlap) for sentences in self._sentences_many(missing)]
        terms = iter(self.nlp.terms_many(c for cs in chunks for c in cs))
        for text, cs in zip(missing, chunks):
            self.overviews[text] = [(c, tuple(Span(t.start, t.end, t.term) for t in next(terms))) for c in cs]

    def _sentences_many(self, texts: list[str]) -> list[list[str]]:
        """nlp.sentences of each text, from one call over all of them (a line break ends a sentence there),
        cut back text by text; one call per text if the cut does not match."""
        flat, out, k = self.nlp.sentences("\n".join(texts)), [], 0
        for text in texts:
            target, got, sentences = "".join(clean(text).split()), "", []
            while len(got) < len(target) and k < len(flat):
                sentences.append(flat[k])
                got += "".join(flat[k].split())
                k += 1
            if got != target:
                return [self.nlp.sentences(t) for t in texts]
            out.append(sentences)
        return out

    def _derived_vectors(self, members: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Mean of each passage's member rows + N(0, NOISE) per dimension, renormalised, all passages at once
        (grouped by member count: one gather and one sum per count, ~15x np.add.reduceat)."""
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        means = np.empty((len(counts), self.vectors.shape[1]), dtype=np.float32)
        for c in np.unique(counts):
            rows = np.flatnonzero(counts == c)
            means[rows] = self.vectors[members[starts[rows][:, None] + np.arange(c)]].sum(axis=1) / np.float32(c)
        means += rng.standard_normal(means.shape, dtype=np.float32) * np.float32(NOISE)
        means /= np.linalg.norm(means, axis=1, keepdims=True)
        return means

    def queries(self, n: int, seed: int = 11) -> list[str]:
        """The 16 dev queries, then distinct generated ones: 2-4 content words of one sentence of the sample, in
        its order, as written, without accents, or with one typo, so that no result or embedding cache could
        flatter a figure."""
        rng = random.Random(seed)
        out = dict.fromkeys(QUERIES)
        while len(out) < n:
            topic = rng.choice(self.topics)
            picked = sorted(rng.sample(range(len(topic)), min(len(topic), rng.randint(2, 4))))
            words = [topic[i] for i in picked]
            kind = rng.random()
            if kind < 0.4:
                q = " ".join(text for text, _ in words)
            elif kind < 0.8:
                q = " ".join(surface for _, surface in words)
            else:
                q = " ".join(_typo(surface, rng) for _, surface in words)
            out.setdefault(q)
        return list(out)[:n]


def _runs(lines: list[str], passages: list[str]) -> list[range]:
    """The consecutive lines each passage of pack(lines) joins (passages overlap, never skip a line)."""
    out, start = [], 0
    for passage in passages:
        for s in range(start, len(lines)):
            j, length = s, -1
            while j < len(lines) and length < len(passage):
                length += len(lines[j]) + 1
                j += 1
            if length == len(passage) and " ".join(lines[s:j]) == passage:
                out.append(range(s, j))
                start = s
                break
        else:
            raise ValueError(f"passage not made of consecutive lines: {passage[:60]!r}")
    return out


def _typo(word: str, rng: random.Random) -> str:
    """One edit (drop, swap, double) in a word of 5+ letters: what the search's typo tolerance accepts."""
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + word[i] + word[i:]


def _get(a: Action, f: str) -> str:
    return getattr(a.evaluation, f.split(".")[1]) if f.startswith("evaluation.") else getattr(a, f)


def _set(a: Action, f: str, value: str) -> None:
    setattr(a.evaluation, f.split(".")[1], value) if f.startswith("evaluation.") else setattr(a, f, value)


def embed(encoder, texts: list[str]) -> np.ndarray:
    return np.concatenate([encoder.encode_passages(texts[i:i + 32]) for i in range(0, len(texts), 32)]) \
        if texts else np.zeros((0, encoder.dimension), np.float32)

