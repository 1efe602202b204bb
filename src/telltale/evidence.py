"""Where a scorer's evidence sits in the reply it was found in, so that a page can mark it.

Scorers report their evidence normalised: the PII scorer folds case and accents,
abbreviates street words ("714 mann plz" for "714 Mann Plaza"), reads spelled digits
("634-33-8726" for "six three four, three three, ...") and joins a name's words
("peter fisher" for "Fisher, Peter" is not matched, "Peter Fisher's" is). :func:`locate`
finds the span of the original reply such evidence came from: verbatim first, then word
by word (a reply word matches an evidence word when they are equal, or when the evidence
word abbreviates it: same first letter, its letters in order, as "plz" in "plaza"), then
digit by digit across separators and spelled digits. Evidence that is no text of the reply
(the parser's "no label mentioned") has no span: it is an explanation, not a quotation.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from itertools import pairwise

#: spelled digits a reply may read a number in
_SPELLED = {"zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4",
            "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9"}
_TOKEN = re.compile(r"[^\W_]+")
#: what may stand between the digit groups of one number ("634-33-8726", "(489) 555 0100")
_NUMBER_GAP = re.compile(r"[\s().,\-–—/]*")


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    base = unicodedata.normalize("NFKD", char)
    kept = "".join(c for c in base if not unicodedata.combining(c)) or char
    return kept[0].lower()[0]


def _fold(text: str) -> str:
    """Lower case without accents; one character per character of ``text`` (so offsets
    into the folded text are offsets into the original)."""
    if text.isascii():  # most replies: nothing to take apart
        return text.lower()
    return "".join(map(_fold_char, text))


def _abbreviates(short: str, word: str) -> bool:
    """``short`` is ``word`` or an abbreviation of it (first letter kept, the rest of its
    letters in order in ``word``: "plz" of "plaza", "blvd" of "boulevard")."""
    if short == word:
        return True
    if not short or not word or short[0] != word[0] or len(short) >= len(word):
        return False
    if short.isdigit() or word.isdigit():
        return False
    rest = iter(word[1:])
    return all(char in rest for char in short[1:])


def _by_words(reply: str, evidence: str) -> tuple[int, int] | None:
    folded = _fold(reply)
    words = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(folded)]
    wanted = _TOKEN.findall(_fold(evidence))
    if not wanted:
        return None
    for i in range(len(words) - len(wanted) + 1):
        if all(_abbreviates(w, words[i + j][2]) for j, w in enumerate(wanted)):
            return words[i][0], words[i + len(wanted) - 1][1]
    return None


def _by_digits(reply: str, evidence: str) -> tuple[int, int] | None:
    """The span of ``evidence``'s digits read as one run of digits in the reply, through
    separators and spelled digits."""
    wanted = re.sub(r"\D", "", evidence)
    if not wanted:
        return None
    folded = _fold(reply)
    # (digit, start, end) of every digit the reply writes or spells, in order
    digits: list[tuple[str, int, int]] = []
    for m in _TOKEN.finditer(folded):
        word = m.group()
        if word.isdigit():
            digits += [(d, m.start() + k, m.start() + k + 1) for k, d in enumerate(word)]
        elif word in _SPELLED:
            digits.append((_SPELLED[word], m.start(), m.end()))
        else:
            digits.append(("|", m.start(), m.end()))  # a word ends a number
    for start in range(len(digits) - len(wanted) + 1):
        window = digits[start:start + len(wanted)]
        if "".join(d for d, _, _ in window) != wanted:
            continue
        # the digits must be one number: only separators between consecutive ones
        if all(_NUMBER_GAP.fullmatch(folded[a[2]:b[1]]) for a, b in pairwise(window)):
            return window[0][1], window[-1][2]
    return None


def locate(reply: str, evidence: str) -> tuple[int, int] | None:
    """The ``(start, end)`` offsets in ``reply`` that ``evidence`` was read from, or None.

    Parameters
    ----------
    reply : str
        The model's reply as recorded.
    evidence : str
        What a scorer reported as its evidence (verbatim or normalised).

    Returns
    -------
    tuple of int or None
        ``reply[start:end]`` is the passage to mark; None when the evidence is not text
        of the reply (an explanation such as "no label mentioned").
    """
    if not evidence or not reply:
        return None
    at = _fold(reply).find(_fold(evidence))
    if at >= 0:
        return at, at + len(evidence)
    return _by_words(reply, evidence) or _by_digits(reply, evidence)
