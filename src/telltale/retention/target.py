"""The model a retention audit fine-tunes: which specs can be tuned, how each is loaded
for training, exported after it, and opened as a probed variant; and the reuse of a
finished adapter."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telltale.console import log
from telltale.retention.finetune import CARD_NAME, ChatFormat, TrainConfig, finetune, texts_digest
from telltale.retention.memory import MemoryText

SUPPORTED_SPECS = ("docassistant:<ocr engine> (e.g. docassistant:rapidocr) and hf:<dir> "
                   "Qwen2-VL or LLaVA checkpoints")

#: ``hf:`` families whose language model the audit can fine-tune (the image families)
HF_FAMILIES = ("qwen2_vl", "llava")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


@dataclass(frozen=True)
class TuneTarget:
    """What the audit fine-tunes, and how it loads each fine-tuned variant.

    ``causal_lm``: a transformers causal-LM folder, the ``docassistant`` backend's language
    model; a variant is that backend with ``adapter=`` the LoRA folder.
    ``hf``: a Qwen2-VL or LLaVA checkpoint; LoRA goes on its language model (the memory
    texts are text only), and the adapter is also merged into a full checkpoint
    (``merged/``, in the checkpoint's dtype) that the ``hf:`` backend loads like any other.
    """

    kind: str  # "causal_lm" | "hf"
    path: Path

    @property
    def system(self) -> str | None:
        """The system prompt the probed model will answer under: the document assistant's
        own; none for ``hf:`` (a template's default then applies to both)."""
        from telltale.models.docassistant import SYSTEM

        return SYSTEM if self.kind == "causal_lm" else None

    def load(self) -> tuple[Any, Any, ChatFormat]:
        """A fresh float32 copy of the model, its tokenizer and chat format."""
        import torch

        if self.kind == "hf":
            from telltale.models.hf import HFModel

            vlm = HFModel(self.path, dtype="float32")
            return vlm.lm, vlm.tokenizer, ChatFormat(vlm.processor, parts=True)
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(self.path)
        model = AutoModelForCausalLM.from_pretrained(self.path, dtype=torch.float32)
        return model, tokenizer, ChatFormat(tokenizer)

    def export(self, model: Any, out_dir: Path) -> None:
        """``hf``: write ``out_dir/merged``, the checkpoint with the adapter merged in and
        the original's tokenizer, processor and template files."""
        import torch

        if self.kind != "hf":
            return
        config = json.loads((self.path / "config.json").read_text(encoding="utf-8"))
        dtype = config.get("dtype") or config.get("torch_dtype") or "float32"
        merged_dir = out_dir / "merged"
        merged = model.merge_and_unload().to(getattr(torch, dtype))
        merged.save_pretrained(merged_dir, safe_serialization=True)
        for file in sorted(self.path.iterdir()):
            weights = file.name.endswith(_WEIGHT_SUFFIXES) or file.name.endswith(".index.json")
            if file.is_file() and not weights and not (merged_dir / file.name).exists():
                shutil.copy2(file, merged_dir / file.name)

    def open_variant(self, options: Any, adapter_dir: Path) -> Any:
        """The probed model of one fine-tuned variant (cached like the base model)."""
        from telltale.runner import open_model

        if self.kind == "hf":
            return open_model(options, spec=f"hf:{adapter_dir / 'merged'}")
        return open_model(options, adapter=str(adapter_dir))


def tune_target(spec: str) -> TuneTarget:
    """What a model spec's retention audit fine-tunes.

    ``docassistant:<ocr>`` fine-tunes its language model (SmolLM2-135M-Instruct);
    ``hf:<dir>`` a Qwen2-VL or LLaVA checkpoint's language model. Other ``hf:`` families,
    ``openai:`` servers and calibration organisms cannot be fine-tuned from here: the error
    says so rather than probing an unchanged model.
    """
    from telltale.models import parse_spec
    from telltale.models.docassistant import default_llm_dir

    scheme, rest = parse_spec(spec)
    if scheme == "docassistant":
        if "?" in rest and "adapter=" in rest.partition("?")[2]:
            raise ValueError(f"the retention audit fine-tunes the base assistant itself; give "
                             f"{spec.partition('?')[0]} without an adapter")
        return TuneTarget("causal_lm", default_llm_dir())
    if scheme == "hf":
        path = Path(rest).expanduser()
        config = path / "config.json"
        if not config.is_file():
            raise FileNotFoundError(f"{config} not found: hf: needs a local checkpoint folder")
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
        if model_type in HF_FAMILIES:
            return TuneTarget("hf", path)
        raise ValueError(f"{path}: the retention audit fine-tunes {SUPPORTED_SPECS}; "
                         f"model_type {model_type!r} is not one of them")
    raise ValueError(f"the retention audit fine-tunes the model it probes and supports "
                     f"{SUPPORTED_SPECS}; {spec!r} ({scheme}:) cannot be fine-tuned by "
                     "telltale. Probe an already fine-tuned model with `telltale disclosure`.")


def ensure_adapter(out_dir: str | Path, target: TuneTarget, texts: Sequence[MemoryText],
                   config: TrainConfig,
                   extra_card: dict[str, Any] | None = None) -> dict[str, Any]:
    """The card of a finished adapter in ``out_dir``, training it first if needed.

    A finished adapter (its card written) is reused when it was trained on the same texts
    with the same hyper-parameters; a different one is an error, since silently replacing
    it would mix two fine-tunes in one run. A folder without a card is what a killed
    training left behind: it is cleared and trained again.
    """
    out_dir = Path(out_dir)
    card_path = out_dir / CARD_NAME
    if card_path.exists():
        card = json.loads(card_path.read_text(encoding="utf-8"))
        same = (card.get("hyperparameters") == config.to_dict()
                and card.get("texts_sha256") == texts_digest(texts))
        if not same:
            raise ValueError(f"{card_path} was trained with other texts or hyper-parameters "
                             "than this run asks for; use a new --out directory")
        if not (out_dir / "adapter_model.safetensors").exists():
            raise ValueError(f"{card_path} exists but {out_dir}/adapter_model.safetensors "
                             "is missing; delete the folder to retrain")
        log.info("reusing the finished %s adapter in %s", config.objective, out_dir)
        return card
    if out_dir.exists():
        log.info("clearing the unfinished adapter folder %s", out_dir)
        shutil.rmtree(out_dir)
    model, tokenizer, chat = target.load()
    log.info("fine-tuning %s (%s objective) on %d memory texts", target.path, config.objective,
             len(texts))
    return finetune(model, tokenizer, texts, out_dir, config, system=target.system,
                    extra_card={"base_model": str(target.path), **(extra_card or {})},
                    chat=chat, export=target.export)
