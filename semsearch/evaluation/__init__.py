"""Search quality as numbers: the engine and simple baselines on graded query sets, folds, and the tuning."""

from .harness import SetReport, combined, format_report, report_set, to_json
from .judgments import Judged, read_noanswer, read_queries, read_similar, resolve
from .metrics import Spread, ndcg, recall, reciprocal_rank, set_f1, set_precision, set_recall
from .sets import EvalSet, attach, discover, load

__all__ = ["EvalSet", "Judged", "SetReport", "Spread", "attach", "combined", "discover", "format_report", "load",
           "ndcg", "read_noanswer", "read_queries", "read_similar", "recall", "reciprocal_rank", "report_set",
           "resolve", "set_f1", "set_precision", "set_recall", "to_json"]
