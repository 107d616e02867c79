"""What every request schema shares: the values the platform can store and show, titles and text within limits.

Storage speaks BSON, which holds only UTF-8 text and 64-bit integers, so a
lone surrogate ("\\ud800", legal in a JSON string), a non-finite float or an
integer past 2**63 would fail deep inside pymongo after the request had been
accepted. NUL characters store but break every reader that treats them as the
end of a string. ``value_problems`` finds all of these, naming each value's
place (``prompts.0``); ``services.common.http.read_json`` checks HTTP bodies
with it and ``Strict`` checks whatever a schema loads (RPC calls, page forms),
so the answer is a 422 naming the field and nothing is stored.
"""
from __future__ import annotations

import math
import unicodedata
from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate

TITLE_MAX = 200
TEXT_MAX = 20_000
#: Agencies and networks of practice are named in URLs by slugs like this.
SLUG = validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,59}$", error="use lower-case letters, digits and dashes")
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
# Characters that show nothing: a title made only of these (and spaces) is blank
# to a reader even though it has a length. Format characters (category Cf)
# include the zero-width space, joiners, word joiner and byte-order mark
# (U+200B..U+200D, U+2060, U+FEFF).
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text (it holds a lone surrogate such as \\ud800)"
    return None


def number_problem(value: int | float) -> str | None:
    """Why storage cannot hold ``value`` as a number, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        return "is out of range"
    return None


def shown_name(name: str) -> str:
    """A field name safe to put in an answer: characters that cannot be sent are written as escapes."""
    if text_problem(name) is None:
        return name
    return name.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def value_problems(value: Any) -> dict[str, list[str]]:
    """``{"place.of.value": [problem]}`` for every string, key or number in ``value`` storage cannot hold.

    Walks without recursion, so however deep a value arrived it cannot stop the walk.
    """
    problems: dict[str, list[str]] = {}
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:
        place, item = pending.pop()
        if isinstance(item, str):
            problem = text_problem(item)
        elif isinstance(item, (int, float)):
            problem = number_problem(item)
        elif isinstance(item, dict):
            problem = None
            for key, child in item.items():
                name = shown_name(str(key))
                child_place = f"{place}.{name}" if place else name
                key_problem = text_problem(key) if isinstance(key, str) else None
                if key_problem:
                    problems.setdefault(child_place, []).append(f"its name {key_problem}")
                else:
                    pending.append((child_place, child))
        elif isinstance(item, (list, tuple)):
            problem = None
            pending.extend((f"{place}.{index}" if place else str(index), child) for index, child in enumerate(item))
        else:
            problem = None
        if problem:
            problems.setdefault(place or "_schema", []).append(problem)
    return problems


def is_blank(text: str) -> bool:
    """True when ``text`` shows nothing: empty, spaces, or only zero-width and other format characters."""
    return all(ch.isspace() or unicodedata.category(ch) in _INVISIBLE_CATEGORIES for ch in text)


class Strict(Schema):
    """Base of every request schema: unknown fields are an error (a typo should not pass silently), and
    every value must be one storage can hold, whether it came over HTTP, RPC or a page's form."""

    @pre_load
    def refuse_values_storage_cannot_hold(self, data, **kwargs):
        problems = value_problems(data)
        if problems:
            raise ValidationError(problems)
        return data


class Text(fields.String):
    """Text with surrounding whitespace removed, at most ``max_length`` characters (``TEXT_MAX`` unless told).

    With ``blank=False`` it must show something: only spaces or zero-width characters are refused.
    """

    def __init__(self, *, max_length: int = TEXT_MAX, blank: bool = True, **kwargs):
        extra = kwargs.pop("validate", None)
        extra = [] if extra is None else list(extra) if isinstance(extra, (list, tuple)) else [extra]
        length = validate.Length(min=0 if blank else 1, max=max_length)
        super().__init__(validate=[length, *extra], **kwargs)
        self.blank = blank

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not self.blank and is_blank(text):
            raise ValidationError("must not be blank (only spaces or invisible characters)")
        return text


class Title(Text):
    """A title or a name: visible text of at most ``TITLE_MAX`` characters."""

    def __init__(self, **kwargs):
        super().__init__(max_length=TITLE_MAX, blank=False, **kwargs)
