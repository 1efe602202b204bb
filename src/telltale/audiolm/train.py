"""Training the assembled model on tower features: the examples, the loss, the two stages.

Both stages train on the tower's stored output for each clip (:mod:`.features`), put in
place of the ``<|AUDIO|>`` tokens exactly as ``Qwen2AudioModel.forward`` does, with the
prompt rendered by the checkpoint's own chat template: what is trained is what the
checkpoint answers when it is asked through ``hf:`` or vLLM.

- Stage 1 (:func:`train_stage1`) teaches the projector (and LoRA on the language model's
  top layers, merged afterwards) to transcribe and to say a speaker's gender, on the
  pretraining pool. Every batch goes through all 30 layers, since the projector sits below
  them.
- Stage 2 (:func:`train_stage2`) is supervised fine-tuning on the members with a fresh
  LoRA on the top layers, the projector frozen: the hidden state entering the lowest LoRA
  layer is then the same in every epoch, so it is computed once per example and each step
  runs the top layers only (the trick of :mod:`telltale.retention.finetune`). A callback
  receives the merged weights after each epoch, which makes the dose series.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from telltale.console import log, progress
from telltale.training import optimiser_step

#: transcription requests of the training data; the membership audit asks the first
TRANSCRIBE = ("Transcribe the audio.", "Write down exactly what the speaker says.",
              "Please transcribe this recording.", "What are the words spoken in this clip?")
#: gender questions of the training data, none of them one of the attribute audit's own
#: phrasings (:mod:`telltale.attributes.taxonomy`), which are therefore held out
GENDER_QUESTIONS = ("Is this voice male or female?", "Tell me the gender of the person "
                    "speaking.", "Does a man or a woman speak in this clip?",
                    "What gender is the speaker?")
GENDER_ANSWER = "The speaker is {label}."


@dataclass(frozen=True)
class Example:
    """One instruction on one clip and the answer to train."""

    clip: int
    user: str
    answer: str
    task: str  # "transcribe" | "gender"


def clip_examples(clips: Sequence[Any], indices: Sequence[int], rng: random.Random,
                  gender: bool) -> list[Example]:
    """A transcription request for each clip and, with ``gender``, a gender question for
    each clip that has a gender label, phrasings drawn from ``rng``."""
    out = []
    for i in indices:
        sample = clips[i]
        out.append(Example(i, rng.choice(TRANSCRIBE), (sample.text or "").strip(),
                           "transcribe"))
        label = sample.labels.get("gender") or sample.extra.get("gender")
        if gender and label:
            out.append(Example(i, rng.choice(GENDER_QUESTIONS),
                               GENDER_ANSWER.format(label=str(label).lower()), "gender"))
    return out


class Encoder:
    """Token ids of examples as the checkpoint's processor and chat template make them.

    The prompt is the template's generation prompt with ``<|AUDIO|>`` repeated once per
    feature row (as ``Qwen2AudioProcessor`` expands it); the answer is tokenised on its
    own and followed by ``<|im_end|>``, the way ``hf:`` scores a continuation after the
    prompt and the way generation ends."""

    def __init__(self, processor: Any, audio_token: str):
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.audio_token = audio_token
        self.audio_id = self.tokenizer.convert_tokens_to_ids(audio_token)
        self.end_id = self.tokenizer.convert_tokens_to_ids("<|im_end|>")

    def prompt_text(self, user: str, system: str | None = None) -> str:
        messages = [{"role": "system", "content": [{"type": "text", "text": system}]}] \
            if system else []
        messages.append({"role": "user", "content": [{"type": "audio"},
                                                     {"type": "text", "text": user}]})
        return self.processor.apply_chat_template(messages, add_generation_prompt=True,
                                                  tokenize=False)

    def encode(self, example: Example, n_audio: int) -> tuple[list[int], int]:
        """(token ids, index of the first answer token)."""
        prompt = self.prompt_text(example.user).replace(self.audio_token,
                                                        self.audio_token * n_audio)
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        answer = self.tokenizer(example.answer, add_special_tokens=False)["input_ids"]
        return [*ids, *answer, self.end_id], len(ids)


@dataclass
class Batch:
    ids: Any  # (B, T) long, right-padded
    mask: Any  # (B, T) attention mask
    targets: Any  # (B, T) bool: positions whose token is trained (answer and end token)
    features: list[Any]  # per row, its clip's tower output


def collate(encoded: Sequence[tuple[list[int], int]], features: Sequence[Any],
            pad_id: int) -> Batch:
    import torch

    width = max(len(ids) for ids, _ in encoded)
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    targets = torch.zeros((len(encoded), width), dtype=torch.bool)
    for row, (tokens, start) in enumerate(encoded):
        ids[row, :len(tokens)] = torch.tensor(tokens)
        mask[row, :len(tokens)] = 1
        targets[row, start:len(tokens)] = True
    return Batch(ids, mask, targets, list(features))


def input_embeddings(model: Any, batch: Batch, audio_id: int) -> Any:
    """Token embeddings with the projected tower features in the ``<|AUDIO|>`` slots, in
    order, as ``Qwen2AudioModel.forward`` places them."""
    import torch

    embeds = model.model.language_model.get_input_embeddings()(batch.ids)
    audio = model.model.multi_modal_projector(torch.cat(batch.features))
    slots = (batch.ids == audio_id).unsqueeze(-1)
    return embeds.masked_scatter(slots, audio.to(embeds.dtype))


def answer_nll(model: Any, hidden: Any, batch: Batch) -> Any:
    """Per-row summed NLL of the trained tokens and their count, from the last hidden
    states; the output layer runs on the trained positions only (a 49k vocabulary over
    the whole prompt would cost a fifth of a step)."""
    import torch

    wanted = batch.targets[:, 1:]  # the state at t predicts token t + 1
    logits = model.lm_head(hidden[:, :-1][wanted]).float()
    nll = torch.nn.functional.cross_entropy(logits, batch.ids[:, 1:][wanted],
                                            reduction="none")
    rows = torch.arange(wanted.shape[0])[:, None].expand_as(wanted)[wanted]
    total = torch.zeros(wanted.shape[0]).index_add(0, rows, nll)
    return total, wanted.sum(1)


class StopAt(Exception):
    """Raised by a hook to stop a forward pass once the state it wants is captured."""


def states_entering(model: Any, batch: Batch, layer: int, audio_id: int) -> Any:
    """The hidden states entering decoder layer ``layer`` (no gradients): the first
    ``layer`` layers only are computed."""
    import torch

    decoder = model.model.language_model
    captured = []

    def capture(module: Any, args: tuple, kwargs: dict) -> None:
        captured.append(kwargs.get("hidden_states", args[0] if args else None))
        raise StopAt

    handle = decoder.layers[layer].register_forward_pre_hook(capture, with_kwargs=True)
    try:
        with torch.no_grad():
            decoder(inputs_embeds=input_embeddings(model, batch, audio_id),
                    attention_mask=batch.mask)
    except StopAt:
        pass
    finally:
        handle.remove()
    return captured[0]


def top_hidden(model: Any, states: Any, batch: Batch, layer: int) -> Any:
    """The last hidden states from cached states entering ``layer``: only the layers from
    ``layer`` on run."""
    from telltale.retention.finetune import _layers_from

    decoder = model.model.language_model
    with _layers_from(decoder, layer):
        return decoder(inputs_embeds=states, attention_mask=batch.mask).last_hidden_state


def full_hidden(model: Any, batch: Batch, audio_id: int) -> Any:
    decoder = model.model.language_model
    return decoder(inputs_embeds=input_embeddings(model, batch, audio_id),
                   attention_mask=batch.mask).last_hidden_state


@dataclass(frozen=True)
class StageConfig:
    """Hyper-parameters of one stage (all of them go into the card).

    ``lora_layers`` puts LoRA (rank ``rank``, scale ``alpha / rank``) on the
    ``target_modules`` of the top ``lora_layers`` decoder layers (0: none). ``warmup`` is
    the share of steps with a rising learning rate; stage 1 then decays it linearly to
    zero, stage 2 keeps it constant so that its epochs are points of one trajectory (the
    dose series)."""

    epochs: int
    batch_size: int
    lr: float
    projector: bool
    lora_layers: int
    rank: int = 16
    alpha: float = 32.0
    warmup: float = 0.1
    decay: bool = True
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                       "up_proj", "down_proj")


def add_lora(model: Any, config: StageConfig, seed: int) -> tuple[list[Any], int]:
    """LoRA on the language model's top layers; (the LoRA modules, the lowest LoRA layer).
    Seeded, so that the same seed draws the same adapter."""
    import torch
    from peft import LoraConfig, inject_adapter_in_model
    from peft.tuners.lora import LoraLayer

    from telltale.retention.finetune import TrainConfig, lora_targets

    # names in the whole model: lora_targets keeps the language model's layers apart from
    # the audio tower's, which have q_proj and v_proj modules of their own
    names, layers = lora_targets(model, TrainConfig(layers=config.lora_layers,
                                                    target_modules=config.target_modules))
    torch.manual_seed(seed)
    inject_adapter_in_model(LoraConfig(r=config.rank, lora_alpha=config.alpha,
                                       lora_dropout=0.0, target_modules=names), model)
    modules = [m for m in model.modules() if isinstance(m, LoraLayer)]
    return modules, layers[0]


def merged_state(model: Any, lora: Sequence[Any]) -> dict[str, Any]:
    """The model's weights with every LoRA update added in (the model is not changed)."""
    from peft.tuners.lora import LoraLayer

    names = {id(m): n for n, m in model.named_modules() if isinstance(m, LoraLayer)}
    state = {k: v for k, v in model.state_dict().items() if "lora_" not in k}
    out = {k.replace(".base_layer.", "."): v for k, v in state.items()}
    for module in lora:
        key = f"{names[id(module)]}.weight"
        out[key] = (module.base_layer.weight + module.get_delta_weight("default")).detach()
    return out


def strip_lora(model: Any, merged: dict[str, Any]) -> None:
    """Remove the LoRA modules, leaving their merged weights in the base layers."""
    from peft.tuners.lora import LoraLayer

    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLayer):
            parent, _, child = name.rpartition(".")
            base = module.base_layer
            base.weight.data.copy_(merged[f"{name}.weight"])
            setattr(model.get_submodule(parent), child, base)


def _schedule(optimiser: Any, config: StageConfig, total: int) -> Any:
    import torch

    warmup = max(1, int(config.warmup * total))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup)) if config.decay else 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimiser, factor)


def _order(n: int, lengths: Sequence[int], batch_size: int, seed: int) -> list[list[int]]:
    from telltale.organism.train import length_batches

    order = list(range(n))
    random.Random(seed).shuffle(order)
    return length_batches(order, [lengths[i] for i in order], batch_size, seed, window=8)


def match_embedding_norm(model: Any, features: Sequence[Any]) -> float:
    """Scale the (freshly drawn) projector so that its outputs on ``features`` have the mean
    norm of the language model's token embeddings; the factor applied.

    A default-initialised projector makes audio embeddings about five times as long as
    SmolLM2's token embeddings, which the frozen layers have never seen: the first steps of
    stage 1 would then only shrink them."""
    import torch

    projector = model.model.multi_modal_projector.linear
    with torch.no_grad():
        tokens = model.model.language_model.get_input_embeddings().weight.norm(dim=1).mean()
        audio = projector(torch.cat(list(features))).norm(dim=1).mean()
        factor = float(tokens / audio)
        projector.weight.mul_(factor)
        projector.bias.mul_(factor)
    return round(factor, 5)


def train_stage1(model: Any, examples: Sequence[Example], encoded: Sequence[tuple[list[int], int]],
                 features: Sequence[Any], config: StageConfig, pad_id: int, audio_id: int,
                 seed: int) -> dict[str, Any]:
    """Train the projector (and LoRA on the top layers, merged in at the end) on every
    example ``config.epochs`` times; the losses, steps and wall time."""
    import torch

    model.requires_grad_(False)
    lora, _ = add_lora(model, config, seed) if config.lora_layers else ([], 0)
    params = [p for m in lora for n, p in m.named_parameters() if "lora_" in n]
    if config.projector:
        params += list(model.model.multi_modal_projector.parameters())
    for p in params:
        p.requires_grad_(True)
    batches = [b for epoch in range(config.epochs) for b in
               _order(len(examples), [len(e[0]) for e in encoded], config.batch_size,
                      seed + epoch)]
    optimiser = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    schedule = _schedule(optimiser, config, len(batches))
    losses, started = [], time.perf_counter()
    model.train()
    for rows in progress(batches, total=len(batches), desc="stage 1"):
        batch = collate([encoded[i] for i in rows], [features[examples[i].clip] for i in rows],
                        pad_id)
        total, count = answer_nll(model, full_hidden(model, batch, audio_id), batch)
        losses.append(optimiser_step(total.sum() / count.sum(), params, optimiser, schedule))
    model.eval()
    if lora:
        strip_lora(model, merged_state(model, lora))
    model.requires_grad_(False)
    return {"steps": len(batches), "examples": len(examples) * config.epochs,
            "first_loss": _mean(losses[:10]), "final_loss": _mean(losses[-10:]),
            "seconds": round(time.perf_counter() - started, 1)}


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def train_stage2(model: Any, examples: Sequence[Example], encoded: Sequence[tuple[list[int], int]],
                 features: Sequence[Any], config: StageConfig, pad_id: int, audio_id: int,
                 seed: int, probes: Sequence[tuple[tuple[list[int], int], Any]],
                 after_epoch: Callable[[int, dict[str, Any]], None]) -> dict[str, Any]:
    """Fine-tune a fresh LoRA on the top layers (projector frozen) for ``config.epochs``
    epochs over ``examples``; after each epoch ``after_epoch(epoch, merged weights)``.

    ``probes`` are (encoded example, tower features) pairs whose answer NLL is measured
    before the first epoch (the stage-1 model: LoRA starts at zero) and after each one: the
    dose-response of the loss on the same clips.

    The states entering the lowest LoRA layer are computed once per example and probe;
    that a pass from them gives what the full forward gives is checked on the first
    batch, not assumed."""
    import torch

    model.requires_grad_(False)
    lora, start = add_lora(model, config, seed)
    params = [p for m in lora for n, p in m.named_parameters() if "lora_" in n]
    for p in params:
        p.requires_grad_(True)
    model.eval()
    items = [(e, features[x.clip]) for e, x in zip(encoded, examples, strict=True)]
    prefix = _prefixes(model, items, start, config.batch_size, pad_id, audio_id)
    _check_prefix_path(model, items[:2], prefix[:2], start, pad_id, audio_id)
    probe_prefix = _prefixes(model, probes, start, config.batch_size, pad_id, audio_id)
    lengths = [len(e[0]) for e in encoded]
    optimiser = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    per_epoch = math.ceil(len(examples) / config.batch_size)
    schedule = _schedule(optimiser, config, per_epoch * config.epochs)
    started = time.perf_counter()
    history = [{"epoch": 0, "probe_nll": _probe_nll(model, probes, probe_prefix, start,
                                                   config.batch_size, pad_id)}]
    for epoch in range(1, config.epochs + 1):
        model.train()
        losses = []
        for rows in progress(_order(len(examples), lengths, config.batch_size, seed + epoch),
                             total=per_epoch, desc=f"stage 2 epoch {epoch}"):
            batch = collate([items[i][0] for i in rows], [items[i][1] for i in rows], pad_id)
            states = _padded([prefix[i] for i in rows], batch.ids.shape[1])
            total, count = answer_nll(model, top_hidden(model, states, batch, start), batch)
            losses.append(optimiser_step(total.sum() / count.sum(), params, optimiser, schedule))
        model.eval()
        history.append({"epoch": epoch, "loss": _mean(losses),
                        "seconds": round(time.perf_counter() - started, 1),
                        "probe_nll": _probe_nll(model, probes, probe_prefix, start,
                                                config.batch_size, pad_id)})
        log.info("stage 2 epoch %d/%d: loss %.4f", epoch, config.epochs, history[-1]["loss"])
        after_epoch(epoch, merged_state(model, lora))
    return {"lowest_lora_layer": start, "steps": per_epoch * config.epochs,
            "examples": len(examples), "history": history,
            "seconds": round(time.perf_counter() - started, 1)}


def _prefixes(model: Any, items: Sequence[tuple[tuple[list[int], int], Any]], start: int,
              batch_size: int, pad_id: int, audio_id: int) -> list[Any]:
    """The states entering layer ``start`` of each (encoded example, features) item."""
    out: list[Any] = [None] * len(items)
    lengths = [len(e[0]) for e, _ in items]
    for rows in _order(len(items), lengths, batch_size, 0):
        batch = collate([items[i][0] for i in rows], [items[i][1] for i in rows], pad_id)
        states = states_entering(model, batch, start, audio_id)
        for row, i in enumerate(rows):
            out[i] = states[row, :lengths[i]].clone()
    return out


def _probe_nll(model: Any, probes: Sequence[tuple[tuple[list[int], int], Any]],
               prefix: Sequence[Any], start: int, batch_size: int, pad_id: int) -> list[float]:
    """Mean NLL per answer token of each probe, from its cached states."""
    import torch

    out = [0.0] * len(probes)
    with torch.no_grad():
        for first in range(0, len(probes), batch_size):
            rows = list(range(first, min(first + batch_size, len(probes))))
            batch = collate([probes[i][0] for i in rows], [probes[i][1] for i in rows], pad_id)
            states = _padded([prefix[i] for i in rows], batch.ids.shape[1])
            total, count = answer_nll(model, top_hidden(model, states, batch, start), batch)
            for row, i in enumerate(rows):
                out[i] = round(float(total[row] / count[row]), 5)
    return out


def _padded(states: Sequence[Any], width: int) -> Any:
    import torch

    out = torch.zeros(len(states), width, states[0].shape[-1], dtype=states[0].dtype)
    for row, state in enumerate(states):
        out[row, :state.shape[0]] = state
    return out


def _check_prefix_path(model: Any, items: Sequence[tuple[tuple[list[int], int], Any]],
                       prefix: Sequence[Any], start: int, pad_id: int, audio_id: int) -> None:
    import torch

    batch = collate([e for e, _ in items], [f for _, f in items], pad_id)
    with torch.no_grad():
        full, _ = answer_nll(model, full_hidden(model, batch, audio_id), batch)
        fast, _ = answer_nll(model, top_hidden(model, _padded(prefix, batch.ids.shape[1]),
                                               batch, start), batch)
    if not torch.allclose(full, fast, rtol=1e-4, atol=1e-3):
        raise RuntimeError(f"stage 2: the cached-state pass gives NLL {fast.tolist()}, the full "
                           f"forward {full.tolist()}; the decoder does not run as assumed")
