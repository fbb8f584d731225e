"""Ranking and set metrics, per query; means and spread over folds of queries."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def ndcg(ranked: Sequence[str], grades: dict[str, int], k: int = 10) -> float:
    gain = sum((2 ** grades.get(t, 0) - 1) / math.log2(i + 2) for i, t in enumerate(ranked[:k]))
    ideal = sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(sorted(grades.values(), reverse=True)[:k]))
    return gain / ideal if ideal else 0.0


def recall(ranked: Sequence[str], grades: dict[str, int], k: int) -> float:
    relevant = {t for t, g in grades.items() if g > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def reciprocal_rank(ranked: Sequence[str], grades: dict[str, int]) -> float:
    best = max(grades.values(), default=0)
    return next((1.0 / (i + 1) for i, t in enumerate(ranked) if grades.get(t, 0) == best and best), 0.0)


def set_precision(matched: Sequence[str], grades: dict[str, int]) -> float:
    """Graded fiches in the matching set / its size (0 for an empty set of an answered query)."""
    return sum(grades.get(t, 0) > 0 for t in matched) / len(matched) if matched else 0.0


def set_recall(matched: Sequence[str], grades: dict[str, int], grade: int = 1) -> float:
    """Fiches graded `grade` or more found in the matching set / their number."""
    wanted = {t for t, g in grades.items() if g >= grade}
    return len(wanted & set(matched)) / len(wanted) if wanted else 0.0


def set_f1(matched: Sequence[str], grades: dict[str, int], beta: float = 1.0) -> float:
    """F-measure of the matching set (beta > 1 weighs recall more); for a query nothing answers, 1 when the set
    is empty and 0 otherwise."""
    if not grades:
        return float(not matched)
    p, r = set_precision(matched, grades), set_recall(matched, grades)
    return (1 + beta ** 2) * p * r / (beta ** 2 * p + r) if p + r else 0.0


@dataclass(frozen=True)
class Spread:
    """A metric over folds of queries: the mean of the fold means, their standard deviation, min and max."""

    mean: float
    std: float
    low: float
    high: float

    @classmethod
    def of(cls, per_fold: Sequence[float]) -> Spread:
        values = np.asarray([v for v in per_fold if not math.isnan(v)], dtype=float)
        if not len(values):
            return cls(math.nan, math.nan, math.nan, math.nan)
        return cls(float(values.mean()), float(values.std()), float(values.min()), float(values.max()))

    def __str__(self) -> str:
        return f"{self.mean:.3f} ± {self.std:.3f}" if not math.isnan(self.mean) else "—"


def folds(count: int, k: int, seed: int = 0) -> list[np.ndarray]:
    """k folds of item indexes, shuffled with a fixed seed: the same folds on every run."""
    order = np.random.default_rng(seed).permutation(count)
    return [np.sort(part) for part in np.array_split(order, min(k, count))] if count else []
