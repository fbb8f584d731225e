"""The `semsearch` command: search, similar, recommend, show, duplicates, reindex, eval and serve, readable or
--json."""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import terminal, wire
from .config import ROOT, Settings
from .corpus import Corpus
from .duplicates import DEFAULT_THRESHOLD
from .errors import IndexDamagedError, SemsearchError, os_problem
from .records import FACETS
from .search import MODES

if TYPE_CHECKING:
    from pydantic import BaseModel

# The project's shared evaluation sets beside the repository, else the copies of the dev sets in eval/.
EVAL_SETS = ROOT.parent / "shared" / "eval" if (ROOT.parent / "shared" / "eval").is_dir() else ROOT / "eval"


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(index_dir=args.index, encoder=args.encoder)


def _filters(args: argparse.Namespace) -> dict[str, list[str]]:
    return {facet: getattr(args, facet) or [] for facet in FACETS}


def _emit(value: Any, as_json: bool, printer: Callable[[Any], None],
          convert: Callable[[Any], BaseModel]) -> None:
    """Print `value` for people, or with --json as the HTTP route answering the same request would
    (`convert` turns it into that route's response model, semsearch.wire)."""
    if as_json:
        json.dump(convert(value).model_dump(mode="json"), sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        printer(value)


def cmd_search(args: argparse.Namespace) -> None:
    from .engine import open_searcher

    searcher = open_searcher(_settings(args))
    queries = [args.query] if args.query else _prompt()
    for query in queries:
        try:
            results = searcher.search(query, _filters(args), args.limit, args.offset, args.mode)
        except SemsearchError as exc:
            if args.query:
                raise
            print(f"erreur : {exc}", file=sys.stderr)  # the prompt goes on; results alone on stdout
            continue
        _emit(results, args.json, terminal.show_results, wire.from_results)


def _prompt():
    print("Recherche dans les fiches actions (Entrée vide ou Ctrl-D pour quitter).")
    while True:
        try:
            line = input("recherche> ").strip()
        except EOFError:
            return
        if not line:
            return
        yield line


def cmd_similar(args: argparse.Namespace) -> None:
    from .engine import open_searcher

    results = open_searcher(_settings(args)).similar(args.id, _filters(args), args.limit)
    _emit(results, args.json, terminal.show_results, wire.from_results)


def cmd_recommend(args: argparse.Namespace) -> None:
    from .engine import open_searcher

    results = open_searcher(_settings(args)).recommend(args.like, args.unlike or [], _filters(args), args.limit,
                                                       args.offset)
    _emit(results, args.json, terminal.show_results, wire.from_results)


def cmd_show(args: argparse.Namespace) -> None:
    from .engine import open_searcher

    _emit(open_searcher(_settings(args)).get(args.id), args.json, terminal.show_action, wire.from_action)


def cmd_duplicates(args: argparse.Namespace) -> None:
    from .engine import open_searcher

    report = open_searcher(_settings(args)).duplicates(args.threshold, args.limit, args.offset)
    _emit(report, args.json, terminal.show_duplicates, wire.from_duplicates)


def cmd_reindex(args: argparse.Namespace) -> None:
    from .corpus import load_actions
    from .engine import rebuild

    settings = Settings.from_env(index_dir=args.out or args.index, encoder=args.encoder, source=args.source)
    corpus = load_actions(settings.source)
    _report_warnings(corpus, args.strict)
    manifest = rebuild(settings, corpus, progress=not args.quiet, full=args.full)
    print(f"index {manifest.build_id} : {manifest.actions} actions ({manifest.duplicates} doublon(s) "
          f"fusionné(s)), {manifest.chunks} passages, encodeur {manifest.encoder}, dans {settings.index_dir}")


def _report_warnings(corpus: Corpus, strict: bool) -> None:
    """What the export parser fixed or kept as it stood, one line each on stderr, then their count; with --strict
    any of them stops the command before anything is built."""
    warnings, source = corpus.warnings, corpus.source
    for warning in warnings:
        print(f"semsearch : avertissement : {warning}", file=sys.stderr)
    if not warnings:
        return
    count = f"{len(warnings)} avertissement(s) dans {source}"
    if strict:
        raise SemsearchError(f"{count} : --strict ne construit rien ; corrigez l'export ou retirez --strict")
    print(f"semsearch : {count} ; indexé comme indiqué ci-dessus (--strict refuse un tel export)", file=sys.stderr)


def cmd_eval(args: argparse.Namespace) -> None:
    from . import evaluation as ev
    from .encoders import load_encoder
    from .nlp import FrenchNLP

    settings = _settings(args)
    sets = ev.discover(args.sets)
    if not sets:
        raise SemsearchError(f"{args.sets} : aucun jeu d'évaluation (dev_queries.tsv, devplus/, external/)")
    encoder = load_encoder(settings.encoder, settings.models_dir, passage_threads=None, device=settings.device)
    nlp = FrenchNLP(settings.spacy_model)
    if args.tune:
        from .evaluation.tuning import format_tuning, tune

        print(format_tuning(tune(sets, args.work, encoder, nlp, progress=not args.quiet)))
        return
    reports = [ev.report_set(ev.load(s, args.work, encoder, nlp, progress=not args.quiet)) for s in sets]
    tuned = [r for r, s in zip(reports, sets) if s.tuned]
    if len(tuned) > 1:
        reports.insert(len(tuned), ev.combined(tuned, " + ".join(r.name for r in tuned)))
    print(ev.format_report(reports))
    if args.json:
        args.json.write_text(json.dumps(ev.to_json(reports), ensure_ascii=False, indent=2), encoding="utf-8")


def cmd_serve(args: argparse.Namespace) -> None:
    import os

    from .config import to_env
    from .cores import serving_env
    from .loading import verify_live

    settings = Settings.from_env(index_dir=getattr(args, "index", None), encoder=args.encoder, host=args.host,
                                 port=args.port, workers=args.workers)
    try:  # here, once, before uvicorn: a failed start-up there prints its traceback, and each worker its own
        verify_live(settings.index_dir, settings.encoder, settings.spacy_model)
    except SemsearchError as exc:
        message = (f"l'index de {settings.index_dir} ne peut pas être chargé, le service ne démarre pas : {exc} ; "
                   f"ou faites pointer {settings.index_dir / 'current'} vers une bonne construction de builds/")
        raise (IndexDamagedError if isinstance(exc, IndexDamagedError) else SemsearchError)(message) from exc
    base = f"http://{settings.host}:{settings.port}"
    print(f"Service sur {base}, prêt dès « Application startup complete » ci-dessous.\n"
          f"Page de recherche : {base}/ — API documentée : {base}/docs",
          flush=True)
    env = serving_env({**os.environ, **to_env(settings)}, settings.workers)
    # This process becomes the service (api/serve.py), its settings in the new environment: the library never
    # imports the service, and uvicorn's workers read the same settings.
    os.execve(sys.executable, [sys.executable, "-m", "api.serve"], env)


class _HelpFormatter(argparse.HelpFormatter):
    def add_usage(self, usage, actions, groups, prefix=None) -> None:  # type: ignore[no-untyped-def]
        super().add_usage(usage, actions, groups, "utilisation : " if prefix is None else prefix)

    def start_section(self, heading: str | None) -> None:
        super().start_section(f"{heading} " if heading else heading)  # "options :", French spacing


# argparse's own usage errors (its English templates, Python 3.11 to 3.13) in French, as whole-message matches.
_USAGE_ERRORS = tuple((re.compile(pattern, re.DOTALL), french) for pattern, french in (
    (r"the following arguments are required: (.*)", r"argument(s) obligatoire(s) manquant(s) : \1"),
    (r"unrecognized arguments: (.*)", r"argument(s) non reconnu(s) : \1"),
    (r"one of the arguments (.*) is required", r"l'un des arguments \1 est obligatoire"),
    (r"ambiguous option: (\S+) could match (.*)", r"option ambiguë : \1 peut être \2"),
    (r"unexpected option string: (.*)", r"option inattendue : \1"),
    (r"invalid choice: (.*) \(choose from (.*)\)", r"choix invalide : \1 (choix possibles : \2)"),
    (r"invalid \S+ value: (.*)", r"valeur invalide : \1"),
    (r"expected one argument", "une valeur attendue"),
    (r"expected at most one argument", "au plus une valeur attendue"),
    (r"expected at least one argument", "au moins une valeur attendue"),
    (r"expected (\d+) arguments?", r"\1 valeur(s) attendue(s)"),
    (r"not allowed with argument (.*)", r"interdit avec l'argument \1"),
    (r"ignored explicit argument (.*)", r"ne prend pas de valeur (\1 donné)"),
))


def _french_usage_error(message: str) -> str:
    """An argparse error in French: "argument X: why" with `why` translated in turn; a message whose English
    template is not known here is kept as it is."""
    if argument := re.fullmatch(r"argument (.+?): (.*)", message, re.DOTALL):
        return f"argument {argument[1]} : {_french_usage_error(argument[2])}"
    for pattern, french in _USAGE_ERRORS:
        if match := pattern.fullmatch(message):
            return match.expand(french)
    return message


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"nombre entier attendu, pas {text!r}") from None


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:  # NaN too
        raise argparse.ArgumentTypeError(f"nombre entre 0 et 1 attendu, pas {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse's help and usage errors in French like the rest of the command; subcommands get the same class."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "add_help": False, "formatter_class": _HelpFormatter})
        self._positionals.title, self._optionals.title = "arguments", "options"
        self.add_argument("-h", "--help", action="help", help="afficher cette aide")

    def error(self, message: str) -> NoReturn:
        """One line on stderr, as the command's other errors, naming the help to read; exit status 2."""
        self.exit(EXIT_USER, f"semsearch : erreur : {_french_usage_error(message)} ; voir {self.prog} --help\n")


def parser() -> argparse.ArgumentParser:
    root = Settings.__dataclass_fields__
    p = _Parser(prog="semsearch", description="Recherche sémantique dans les fiches actions.")
    p.add_argument("--index", type=Path, metavar="DOSSIER", help=f"dossier de l'index (défaut : SEMSEARCH_INDEX_DIR ou "
                   f"{root['index_dir'].default})")
    p.add_argument("--encoder", metavar="MODÈLE", help="nom d'un modèle de models/registry.json (défaut : SEMSEARCH_ENCODER)")
    p.add_argument("--debug", action="store_true", help="montrer la trace (traceback) d'une erreur")
    sub = p.add_subparsers(dest="command", required=True, title="commandes", metavar="COMMANDE")

    s = sub.add_parser("search", help="recherche en texte libre (interactive sans requête)")
    s.add_argument("query", nargs="?", metavar="REQUÊTE", help="texte libre, en français")
    s.add_argument("--mode", choices=MODES, default="hybrid",
                   help="hybrid (mots + sens, par défaut), semantic (sens seul) ou lexical (mots seuls)")
    s.add_argument("--limit", type=_integer, default=10, metavar="N", help="résultats par page (1 à 100, défaut : 10)")
    s.add_argument("--offset", type=_integer, default=0, metavar="N", help="rang du premier résultat montré (défaut : 0)")
    s.set_defaults(func=cmd_search)

    m = sub.add_parser("similar", help="actions comparables à une action")
    m.add_argument("id", metavar="ID", help="identifiant de l'action (ligne « id : » des résultats)")
    m.add_argument("--limit", type=_integer, default=5, metavar="N", help="résultats (1 à 100, défaut : 5)")
    m.set_defaults(func=cmd_similar)

    rc = sub.add_parser("recommend", help="projets qui pourraient inspirer, d'après plusieurs fiches aimées")
    rc.add_argument("--like", action="append", required=True, metavar="ID",
                    help="identifiant d'une fiche aimée (répété : plusieurs fiches ; une au moins)")
    rc.add_argument("--unlike", action="append", metavar="ID",
                    help="identifiant d'une fiche dont on ne veut pas d'autres pareilles (répétable)")
    rc.add_argument("--limit", type=_integer, default=10, metavar="N", help="résultats (1 à 100, défaut : 10)")
    rc.add_argument("--offset", type=_integer, default=0, metavar="N",
                    help="rang du premier résultat montré (défaut : 0)")
    rc.set_defaults(func=cmd_recommend)
    for command in (s, m, rc):
        for facet in FACETS:
            command.add_argument(f"--{facet}", action="append", metavar="VALEUR",
                                 help="filtre (répété : l'une ou l'autre valeur ; filtres différents : tous)")
        command.add_argument("--json", action="store_true",
                             help="sortie JSON pour les programmes : la réponse de l'API HTTP à la même "
                                  "demande")

    sh = sub.add_parser("show", help="la fiche complète d'une action")
    sh.add_argument("id", metavar="ID", help="identifiant de l'action")
    sh.add_argument("--json", action="store_true", help="sortie JSON, celle de GET /actions/ID")
    sh.set_defaults(func=cmd_show)

    d = sub.add_parser("duplicates", help="rapport des doublons : fiches envoyées deux fois ou recopiées avec de "
                       "petites modifications")
    d.add_argument("--threshold", type=_threshold, default=DEFAULT_THRESHOLD, metavar="T",
                   help=f"similarité minimale des paires, de 0 à 1 (défaut : {DEFAULT_THRESHOLD})")
    d.add_argument("--limit", type=_integer, default=20, metavar="N", help="paires par page (1 à 100, défaut : 20)")
    d.add_argument("--offset", type=_integer, default=0, metavar="N", help="rang de la première paire montrée "
                   "(défaut : 0)")
    d.add_argument("--json", action="store_true", help="sortie JSON, celle de GET /duplicates")
    d.set_defaults(func=cmd_duplicates)

    r = sub.add_parser("reindex", help="construire l'index depuis un export et le mettre en service d'un "
                       "coup")
    r.add_argument("--source", type=Path, metavar="FICHIER", help="fichier d'export (.txt ou .jsonl ; défaut : "
                   "SEMSEARCH_SOURCE)")
    r.add_argument("--out", type=Path, metavar="DOSSIER", help="dossier de l'index (défaut : --index)")
    r.add_argument("--quiet", action="store_true", help="sans barres de progression")
    r.add_argument("--full", action="store_true", help="tout reconstruire au lieu de compléter l'index en "
                   "service (fait de toute façon quand il est abîmé)")
    r.add_argument("--strict", action="store_true", help="refuser un export qui donne des avertissements "
                   "(code 2, rien n'est construit)")
    r.set_defaults(func=cmd_reindex)

    e = sub.add_parser("eval", help="qualité de la recherche de chaque mode et référence sur les jeux "
                       "d'évaluation")
    e.add_argument("--sets", type=Path, default=EVAL_SETS, metavar="DOSSIER",
                   help=f"dossier des jeux d'évaluation (défaut : {EVAL_SETS})")
    e.add_argument("--work", type=Path, default=ROOT / "index" / "eval", metavar="DOSSIER",
                   help="où l'index de chaque jeu est construit (défaut : index/eval)")
    e.add_argument("--json", type=Path, metavar="FICHIER",
                   help="écrire aussi le tableau en JSON dans ce fichier")
    e.add_argument("--tune", action="store_true", help="choisir les constantes du classement par validation "
                   "croisée")
    e.add_argument("--quiet", action="store_true", help="sans barres de progression")
    e.set_defaults(func=cmd_eval)

    v = sub.add_parser("serve", help="le service HTTP (FastAPI + uvicorn), documenté sur /docs")
    v.add_argument("--host", metavar="ADRESSE", help="adresse d'écoute (défaut : SEMSEARCH_HOST ou 127.0.0.1)")
    v.add_argument("--port", type=_integer, help="port d'écoute (défaut : SEMSEARCH_PORT ou 8000)")
    # SUPPRESS: absent, it leaves the top-level `semsearch --index DIR serve` alone instead of resetting it.
    v.add_argument("--index", type=Path, default=argparse.SUPPRESS, metavar="DOSSIER", help="dossier de l'index (comme --index "
                   "plus haut)")
    v.add_argument("--workers", type=_integer, metavar="N", help="processus de service, chacun avec sa copie de l'index et du "
                   "modèle (défaut : SEMSEARCH_WORKERS ou 1)")
    v.set_defaults(func=cmd_serve)
    return p


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (as logging's last-resort handler does), not the one of the
    first call."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def show_library_messages() -> None:
    """The library's INFO messages on stderr (a one-time ONNX export, a full build instead of a patch): without a
    handler Python prints only warnings. `serve` replaces it with uvicorn's log configuration."""
    library = logging.getLogger("semsearch")
    if not library.handlers:
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("semsearch : %(message)s"))
        library.addHandler(handler)
    library.setLevel(logging.INFO)


EXIT_USER = 2  # bad input, a missing index, an unwritable disk: the message says what to change
EXIT_DAMAGED = 3  # the index is there but damaged: rebuild it (`semsearch reindex --full`)
EXIT_BUG = 1  # anything else: a bug, whose traceback --debug shows


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    show_library_messages()
    try:
        args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        code, message = _fault(exc)
        print(f"semsearch : erreur : {message}", file=sys.stderr)
        return code
    return 0


def _fault(exc: Exception) -> tuple[int, str]:
    """Exit status and one line for a failure: the library's own errors say what to do; the rest is named."""
    if isinstance(exc, IndexDamagedError):
        return EXIT_DAMAGED, str(exc)
    if isinstance(exc, SemsearchError):
        return EXIT_USER, str(exc)
    if isinstance(exc, OSError):
        where = f"{exc.filename} : " if exc.filename else ""
        return EXIT_USER, f"{where}{os_problem(exc)}"
    return EXIT_BUG, f"erreur inattendue {type(exc).__name__} : {exc} (relancez avec --debug pour voir la trace)"


if __name__ == "__main__":
    sys.exit(main())
