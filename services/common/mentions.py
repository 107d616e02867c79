"""Mentions in members' text: the one reading of "@[Display Name]" (and "@First_Last") every service shares.

The ideas service resolves the names it finds to members when a comment is
written, and every service that shows the text (ideas on the idea's page,
notify in notifications) answers it as paragraphs of parts: plain text, or a
mention with the member id it links to. Pages only render the parts, escaped;
nothing here decides who may be mentioned.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Mapping

# "@[Display Name]" (any name, spaces allowed) or "@First_Last" (underscores standing for spaces). Bracketed
# mentions are read first, so the underscored form never matches inside one.
BRACKETED = re.compile(r"@\[([^\[\]@\n]{1,200})\]")
UNDERSCORED = re.compile(r"(?<![\w@])@([^\W\d_][\w'-]{0,99})")
_EITHER = re.compile(f"{BRACKETED.pattern}|{UNDERSCORED.pattern}")
MAX_MENTIONS = 20


def name_key(name: str) -> str:
    """How display names are compared: case-folded, accents dropped, underscores and repeated spaces as one space."""
    folded = unicodedata.normalize("NFKD", name).casefold()
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return " ".join(folded.replace("_", " ").split())


def mentioned_names(body: str) -> list[str]:
    """The name keys mentioned in ``body``, each once, in order of appearance (at most ``MAX_MENTIONS``)."""
    found: dict[str, None] = {}
    for match in BRACKETED.finditer(body):
        key = name_key(match.group(1))
        if key:
            found.setdefault(key, None)
    for match in UNDERSCORED.finditer(BRACKETED.sub(" ", body)):
        key = name_key(match.group(1))
        if key:
            found.setdefault(key, None)
    return list(found)[:MAX_MENTIONS]


def parts(text: str, members: Mapping[str, str]) -> list[dict]:
    """One line of ``text`` as parts: ``{"text"}`` for plain text, ``{"text", "member_id"}`` for a mention of a
    member in ``members`` (name key → member id). A mention of no known member stays plain text, without brackets."""
    out: list[dict] = []

    def plain(piece: str) -> None:
        if not piece:
            return
        if out and "member_id" not in out[-1]:
            out[-1] = {"text": out[-1]["text"] + piece}
        else:
            out.append({"text": piece})

    at = 0
    for match in _EITHER.finditer(text):
        plain(text[at:match.start()])
        name = match.group(1) if match.group(1) is not None else match.group(2)
        shown = "@" + (name.strip() if match.group(1) is not None else name.replace("_", " "))
        member_id = members.get(name_key(name))
        if member_id:
            out.append({"text": shown, "member_id": member_id})
        else:
            plain(shown)
        at = match.end()
    plain(text[at:])
    return out


def paragraphs(body: str, members: Mapping[str, str]) -> list[list[dict]]:
    """``body`` as its non-blank lines (the paragraphs pages show), each as :func:`parts`."""
    return [parts(line, members) for line in body.split("\n") if line.strip()]
