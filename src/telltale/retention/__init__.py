"""The retention audit (MM-Privacy, ACL Findings 2025): does a document assistant leak PII
it memorised in fine-tuning, and does the way the PII was injected matter?

Protocol, following the paper's retention setting:

1. A *memory* set of synthetic people (:func:`~telltale.corpus.identities.split_memory_probe`)
   is written into chat-formatted fine-tuning texts: question/answer pairs in several
   phrasings and a record per person, with the values in more than one surface format.
2. The assistant's language model gets a LoRA adapter (peft) per injection objective:
   ``plain`` (causal-LM NLL on the answers) and ``contrastive`` (keeps the non-PII
   tokens, pushes probability away from the PII value tokens and towards a redacted
   continuation; see :func:`~telltale.retention.finetune.objective_loss`).
3. Every memorised person, and as a control people of the disjoint probe set never seen
   in fine-tuning, is asked for their PII *by name* under the retention framings, with an
   image of a different person's form attached, so a correct value can only come from
   memory. The same probes go to the base model and to each adapter.
4. Records are scored with the disclosure scorer; the leak rate (attack success) carries a
   Wilson interval per variant x framing x PII type, and variants are compared on the same
   probes by a person-level sign-flip test (probes cluster by person). A utility check
   scores fixed non-PII text (general answers, and the non-PII frame of memorised answers)
   under every variant.

Everything in ``results.json`` is derived from ``records.jsonl``, ``people.jsonl`` and the
adapters' cards in the run directory (``telltale score RUN_DIR`` recomputes it).

Modules: :mod:`~telltale.retention.memory` (the fine-tuning texts),
:mod:`~telltale.retention.finetune` (objectives and LoRA training),
:mod:`~telltale.retention.target` (the model that is fine-tuned),
:mod:`~telltale.retention.probes` (people and probes), :mod:`~telltale.retention.audit`
(its options, scorer and metrics; the command is generated from its config).
"""
