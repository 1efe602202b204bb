"""Finding a taxonomy's phrases in a reply, compiled once per attribute.

A :class:`PhraseMatcher` holds every phrase of a table (label -> phrases), longest first.
It finds each phrase as whole words (a possessive still counts: "a woman's voice"), and a
phrase inside a longer one already found is skipped ("middle class" claims its "class").
Text and phrases are compared lower-cased with hyphens read as spaces ("blue-collar" is
"blue collar", "upper-middle" is "upper middle").

Speed: a reply is split into its words once, and only the phrases whose every word occurs
in it are searched for, so a reply costs a set look-up per word rather than one regular
expression per phrase of the taxonomy (about 600 for the accents).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import NamedTuple

_TOKEN = re.compile(r"[a-z0-9]+")


def normalise(text: str) -> str:
    """Lower case, straight apostrophes, hyphens as spaces (the same length as ``text``
    when it holds no characters whose lower case is longer)."""
    return text.lower().replace("’", "'").replace("-", " ")


class Found(NamedTuple):
    """One phrase found: where, which label, the phrase as listed."""

    start: int
    end: int
    label: str
    phrase: str


class PhraseMatcher:
    """Every phrase of ``table`` (label -> phrases), ready to be found in text.

    Parameters
    ----------
    table : phrases per label; a phrase listed under two labels counts for the first.
    labels : the labels in order (phrases of labels not listed are ignored).
    """

    def __init__(self, table: Mapping[str, Sequence[str]], labels: Sequence[str]):
        entries = []
        for label in labels:
            for phrase in table.get(label, ()):
                key = " ".join(normalise(phrase).split())
                if _TOKEN.search(key):
                    entries.append((key, label, phrase))
        # longest first; equal lengths keep the label order (a stable sort)
        entries.sort(key=lambda entry: -len(entry[0]))
        self._patterns = [re.compile(r"(?<![\w'])" + re.escape(key) + r"(?!\w|'(?!s\b))")
                          for key, _, _ in entries]
        self._entries = [(label, phrase) for _, label, phrase in entries]
        self._words = [frozenset(_TOKEN.findall(key)) for key, _, _ in entries]
        self._by_word: dict[str, list[int]] = defaultdict(list)
        for index, words in enumerate(self._words):
            self._by_word[min(words)].append(index)

    def find(self, text: str) -> list[Found]:
        """Every phrase in ``text`` (already :func:`normalise`-d), by position."""
        words = set(_TOKEN.findall(text))
        candidates = sorted({i for word in words for i in self._by_word.get(word, ())
                             if self._words[i] <= words})
        found: list[Found] = []
        for index in candidates:
            label, phrase = self._entries[index]
            for match in self._patterns[index].finditer(text):
                if any(f.start < match.end() and match.start() < f.end for f in found):
                    continue  # inside a longer phrase already found
                found.append(Found(match.start(), match.end(), label, phrase))
        return sorted(found)
