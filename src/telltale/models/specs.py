"""Options written into a model spec after ``?`` (``hf:<dir>?dtype=bfloat16``,
``docassistant:rapidocr?adapter=DIR``), read and checked the same way for every backend
that takes them."""

from __future__ import annotations


def split_options(text: str, allowed: dict[str, tuple[str, ...] | None],
                  scheme: str) -> tuple[str, dict[str, str]]:
    """``<rest>?key=value&...`` -> (``<rest>``, options), each key one of ``allowed`` and
    each value one of ``allowed[key]`` (None: any non-empty value).

    Raises
    ------
    ValueError
        Naming the option and what the ``scheme:`` spec takes.
    """
    head, sep, query = text.partition("?")
    options: dict[str, str] = {}
    for item in query.split("&") if sep else []:
        key, eq, value = item.partition("=")
        if key not in allowed or not eq or not value:
            raise ValueError(f"{scheme} spec option {item!r} not understood; options are "
                             + ", ".join(f"{k}=" for k in allowed))
        values = allowed[key]
        if values is not None and value not in values:
            raise ValueError(f"{scheme} spec option {key}={value!r} must be one of "
                             f"{', '.join(values)}")
        options[key] = value
    return head, options
