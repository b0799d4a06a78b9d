"""Shared ONNX Runtime plumbing: sessions, execution-provider fallback, CLIP BPE tokenizer.

Runtime-safe: onnxruntime, numpy and tokenizers only (never torch).
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Loading onnxruntime after usearch's extension in one process crashes the interpreter
#: (usearch statically links libstdc++ and exports its unique locale symbols; onnxruntime's
#: static initialisers then segfault in std::codecvt). Importing onnxruntime first is fine.
ONNXRUNTIME_AFTER_USEARCH = (
    "onnxruntime must be imported before usearch in the same process (usearch's statically "
    "linked libstdc++ makes a later onnxruntime import segfault): import onnxruntime (or "
    "infrastructure.ml.runtime) at process start, before the vector index"
)


def onnxruntime_import_blocked() -> bool:
    """True when importing onnxruntime now would crash the interpreter (see above)."""
    return "usearch.compiled" in sys.modules and "onnxruntime" not in sys.modules


if onnxruntime_import_blocked():
    raise ImportError(ONNXRUNTIME_AFTER_USEARCH)

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
import onnxruntime as ort  # noqa: E402
import structlog  # noqa: E402
from tokenizers import (  # noqa: E402
    Regex,
    Tokenizer,
    decoders,
    normalizers,
    pre_tokenizers,
    processors,
)
from tokenizers.models import BPE  # noqa: E402

from infrastructure.ml.manifest import DEFAULT_PROVIDERS  # noqa: E402

log = structlog.get_logger(__name__)

_CPU = "CPUExecutionProvider"
_ORT_DEFAULT_LOG_SEVERITY = 2  # warning: onnxruntime's own default
_lock = threading.Lock()
#: Providers that failed to initialise in this process (requested but not active).
_unusable: set[str] = set()
_fallback_logged: set[tuple[str, ...]] = set()


def available_providers() -> list[str]:
    """Providers compiled into the installed onnxruntime wheel."""
    return list(ort.get_available_providers())


def _filter(requested: Sequence[str]) -> list[str]:
    available = set(available_providers())
    chosen = [p for p in requested if p in available and p not in _unusable]
    if not chosen:
        chosen = [_CPU]
    return chosen


def create_session(
    path: Path,
    providers: Sequence[str] | None = None,
    intra_op_threads: int | None = None,
    inter_op_threads: int | None = None,
) -> ort.InferenceSession:
    """An InferenceSession on the first usable providers, logging a fallback once.

    ``onnxruntime-gpu`` lists ``CUDAExecutionProvider`` as available even on a machine
    without a GPU or CUDA libraries; creating the session then silently drops it. The first
    time that happens in a process we log one clear warning and remember it, so later
    sessions ask for CPU straight away (no repeated noise from onnxruntime itself).
    """
    requested = tuple(providers or DEFAULT_PROVIDERS)
    options = ort.SessionOptions()
    if intra_op_threads:
        options.intra_op_num_threads = int(intra_op_threads)
    if inter_op_threads:
        options.inter_op_num_threads = int(inter_op_threads)
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Deterministic kernels where a provider offers a choice (CUDA convolution algorithms).
    options.use_deterministic_compute = True
    options.log_severity_level = 3

    with _lock:
        chosen = _filter(requested)
        probing = [p for p in chosen if p != _CPU]
        if probing:
            # A provider whose libraries are missing makes onnxruntime print an error
            # before falling back; we report that ourselves, once, below.
            ort.set_default_logger_severity(4)
        try:
            session = ort.InferenceSession(str(path), sess_options=options, providers=chosen)
        finally:
            if probing:
                ort.set_default_logger_severity(_ORT_DEFAULT_LOG_SEVERITY)
        active = session.get_providers()
        missing = [p for p in requested if p not in active and p != _CPU]
        _unusable.update(p for p in probing if p not in active)
        if missing and requested not in _fallback_logged:
            _fallback_logged.add(requested)
            log.warning(
                "onnx.provider_fallback",
                requested=list(requested),
                active=active,
                unavailable=missing,
                hint=(
                    f"onnxruntime {ort.__version__} could not use {', '.join(missing)} "
                    "(no GPU, or CUDA/cuDNN libraries missing); running on CPU"
                ),
            )
    return session


def session_io(session: ort.InferenceSession) -> tuple[dict[str, str], list[str]]:
    """Input name -> ONNX type string, and the output names."""
    inputs = {i.name: i.type for i in session.get_inputs()}
    return inputs, [o.name for o in session.get_outputs()]


def ort_dtype(type_str: str) -> type[np.generic]:
    """numpy dtype for an ONNX tensor type string such as ``tensor(int64)``."""
    mapping: dict[str, type[np.generic]] = {
        "tensor(float)": np.float32,
        "tensor(float16)": np.float16,
        "tensor(double)": np.float64,
        "tensor(int64)": np.int64,
        "tensor(int32)": np.int32,
    }
    if type_str not in mapping:
        raise TypeError(f"unsupported ONNX input type {type_str}")
    return mapping[type_str]


class ClipBpeTokenizer:
    """CLIP's byte-level BPE tokenizer, built with ``tokenizers`` from vocab.json + merges.txt.

    Mirrors ``transformers``' CLIPTokenizerFast: NFC + whitespace collapse + lowercasing,
    CLIP's pre-tokenisation regex, ``</w>`` end-of-word BPE, ``<|startoftext|> ...
    <|endoftext|>`` around each text, truncation to ``max_length`` (keeping the end token)
    and padding to ``max_length`` with the pad token.
    """

    def __init__(
        self,
        vocab_path: Path,
        merges_path: Path,
        max_length: int,
        bos_token: str = "<|startoftext|>",  # noqa: S107 - a token, not a password
        eos_token: str = "<|endoftext|>",  # noqa: S107
        pad_token: str | None = None,
        unk_token: str | None = None,
        lowercase: bool = True,
    ) -> None:
        vocab: dict[str, int] = json.loads(vocab_path.read_text(encoding="utf-8"))
        lines = merges_path.read_text(encoding="utf-8").splitlines()
        merges = [
            tuple(line.split())
            for line in lines
            if line.strip() and not line.startswith("#version")
        ]
        pad_token = pad_token or eos_token
        unk_token = unk_token or eos_token
        for token in (bos_token, eos_token, pad_token, unk_token):
            if token not in vocab:
                raise ValueError(f"{vocab_path}: special token {token!r} not in vocabulary")
        model = BPE(
            vocab=vocab,
            merges=merges,
            dropout=None,
            continuing_subword_prefix="",
            end_of_word_suffix="</w>",
            fuse_unk=False,
            unk_token=unk_token,
        )
        tok = Tokenizer(model)
        steps: list[Any] = [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " ")]
        if lowercase:
            steps.append(normalizers.Lowercase())
        tok.normalizer = normalizers.Sequence(steps)
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(
                    Regex(r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""),
                    behavior="removed",
                    invert=True,
                ),
                pre_tokenizers.ByteLevel(add_prefix_space=False),
            ]
        )
        tok.decoder = decoders.ByteLevel()
        # Positional (sep, cls): tokenizers 0.23 renamed the ``cls`` keyword to ``cls_token``.
        tok.post_processor = processors.RobertaProcessing(
            (eos_token, vocab[eos_token]),
            (bos_token, vocab[bos_token]),
            trim_offsets=False,
            add_prefix_space=False,
        )
        tok.enable_truncation(max_length=max_length)
        tok.enable_padding(
            length=max_length, pad_id=vocab[pad_token], pad_token=pad_token, direction="right"
        )
        self.max_length = max_length
        self._tok = tok

    @classmethod
    def from_section(cls, export_dir: Path, section: dict[str, Any]) -> ClipBpeTokenizer:
        """Build from a manifest section (``tokenizer_files`` + ``text``)."""
        files = section["tokenizer_files"]
        text = section["text"]
        return cls(
            export_dir / files["vocab.json"],
            export_dir / files["merges.txt"],
            max_length=int(text["max_length"]),
            bos_token=text["bos_token"],
            eos_token=text["eos_token"],
            pad_token=text.get("pad_token"),
            unk_token=text.get("unk_token"),
            lowercase=bool(text.get("lowercase", True)),
        )

    def __call__(self, texts: Sequence[str]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(input_ids, attention_mask), both int64 of shape (len(texts), max_length)."""
        encodings = self._tok.encode_batch(list(texts))
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        return ids.reshape(len(texts), self.max_length), mask.reshape(len(texts), self.max_length)
