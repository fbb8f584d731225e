"""Shared fixtures: the sample corpus indexed once per test session, for real (real encoder, real spaCy)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from semsearch.config import Settings
from semsearch.corpus import Corpus, load_actions, read_jsonl, write_jsonl
from semsearch.encoders import Encoder, load_encoder
from semsearch.index import build_index
from semsearch.nlp import FrenchNLP
from semsearch.search import Searcher

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "actions-maine-et-loire.txt"


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    return load_actions(SAMPLE)


@pytest.fixture(scope="session")
def nlp() -> FrenchNLP:
    return FrenchNLP()


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    return load_encoder(Settings().encoder, ROOT / "models")  # the default, as users get it


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory, corpus: Corpus, encoder: Encoder,
                 nlp: FrenchNLP) -> Path:
    """An index directory built from the sample export: ~1 min of real embedding, done once."""
    index_dir = tmp_path_factory.mktemp("index")
    build_index(corpus, index_dir, encoder, nlp, progress=False)
    return index_dir


@pytest.fixture(scope="session")
def settings(sample_index: Path) -> Settings:
    return Settings.from_env({}, index_dir=sample_index, source=SAMPLE)


@pytest.fixture(scope="session")
def searcher(settings: Settings, encoder: Encoder) -> Searcher:
    from semsearch.engine import open_searcher

    return open_searcher(settings, encoder)


@pytest.fixture(scope="session")
def ids(corpus: Corpus) -> dict[str, str]:
    """Title -> id of the sample's actions, so tests read in titles."""
    return {a.title: a.id for a in corpus.actions}


@pytest.fixture(scope="module")
def client(settings: Settings, searcher: Searcher) -> Iterator:
    """The service in-process (ASGI) over the session's searcher, one per test module; a module that needs
    other settings or a raising client defines its own `client`."""
    from fastapi.testclient import TestClient

    from api import create_app

    with TestClient(create_app(settings, searcher=searcher)) as c:
        yield c


@pytest.fixture(scope="session")
def http_server(settings: Settings, searcher: Searcher) -> Iterator[str]:
    """The service under a real uvicorn on a free 127.0.0.1 port, in a thread of the test process, over the
    session's searcher (no second model load); yields its base URL. For clients that need a real socket
    (a browser); TestClient is enough for everything else."""
    import threading

    import uvicorn
    from processes import free_port, wait_until

    from api import create_app

    port = free_port()
    # ws="none": no websocket library imported (the service has no websocket route).
    config = uvicorn.Config(create_app(settings, searcher=searcher), host="127.0.0.1", port=port,
                            ws="none", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()

    def started() -> bool:
        assert thread.is_alive(), "uvicorn did not start"
        return server.started

    wait_until(started, 30, "uvicorn to start", interval=0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory, corpus: Corpus, encoder: Encoder, nlp: FrenchNLP) -> dict:
    """A three-action index and three exports: the same three, two others and eighteen others (not in the build
    cache: a build of them really embeds)."""
    base = tmp_path_factory.mktemp("small")
    three, two, eighteen = base / "three.jsonl", base / "two.jsonl", base / "eighteen.jsonl"
    write_jsonl(corpus.actions[:3], three)
    write_jsonl(corpus.actions[3:5], two)
    write_jsonl(corpus.actions[3:21], eighteen)  # ~290 passages: three encoder calls (derive.BATCH) to kill between
    index_dir = base / "index"
    build_index(read_jsonl(three), index_dir, encoder, nlp, progress=False)
    return {"index": index_dir, "three": three, "two": two, "eighteen": eighteen}


@pytest.fixture
def index_dir(small: dict, tmp_path: Path) -> Path:
    """A copy of the three-action index, for a test to damage or rebuild."""
    copy = tmp_path / "index"
    shutil.copytree(small["index"], copy, symlinks=True)
    return copy
