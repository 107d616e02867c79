"""Reading legacy consultation pages into archived ideas.

Before this platform, ideas were discussed on consultation pages that now
survive only as plain-text exports. An export reads, top to bottom:

* an optional site header line, then the idea's title;
* the description (one or more paragraphs), optionally ending with a line of
  tags;
* "What it might look like:" (text on the same line and/or following lines);
* "Why the contribution is important" and its text;
* "Rate this idea: (1 star 'bad'; 5 stars 'great')" (skipped);
* "Add comments: <prompts>" and a following paragraph of prompts;
* the author line ``by <name> on <Month DD, YYYY> at <hh:mmAM/PM>``;
* "Current Rating", "Average rating: X.Y", "Based on: N votes";
* comments, each starting ``Posted by <name> <Month DD, YYYY> at <HH:MM>``
  (with or without a bullet, 24-hour or 12-hour time) and followed by its
  paragraphs;
* a "Log in or register …" footer (skipped).

Two things are told apart by their shape, since the export does not mark
them. A first line is a site header only when it and the next line each
stand alone, both read like titles (short, not ending in "." "," ";" ":")
and description follows; otherwise the first line is the title. The last
paragraphs of the description are tags only when each is a single line of
lower-case words with no common English word among them (e.g. "panels
registers") and some description comes before them; otherwise they stay in
the description.

Every section except the title and the author line may be missing. Line
endings, tabs, non-breaking spaces, bullets and runs of blank lines do not
matter. A page cut short - inside the rating block, or anywhere before the
author line - is refused with a :class:`LegacyPageError` naming the line.

Times on these pages are Canberra local time and come back aware in
``Australia/Sydney`` (same rules as Canberra, daylight saving included).
A wall-clock time that occurs twice when daylight saving ends is read as
the first (daylight-saving) one.

Pure: no storage, broker or framework is touched here.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from services.common.search import STOP_WORDS

CANBERRA = ZoneInfo("Australia/Sydney")

#: Titles on the platform hold at most this many characters.
MAX_TITLE_LENGTH = 200

_FINGERPRINT_VERSION = 1

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DATE = rf"(?P<month>{_MONTH})\.?\s+(?P<day>\d{{1,2}}),?\s+(?P<year>\d{{4}})"
_TIME = r"(?P<hour>\d{1,2})[:.](?P<minute>\d{2})\s*(?P<ampm>[ap]\.?\s?m\.?)?"
_BULLET = r"(?:[•*\-–—·‣◦▪●]\s*)?"

_AUTHOR = re.compile(rf"by\s+(?P<name>.+?)\s+on\s+{_DATE}\s+at\s+{_TIME}", re.I)
# Something that starts like an author line but does not parse is a damaged
# author line, not description text.
_AUTHOR_START = re.compile(rf"by\s+.+?\s+on\s+{_MONTH}\b", re.I)
_COMMENT = re.compile(
    rf"{_BULLET}posted\s+by\s+(?P<name>.+?)\s+(?:on\s+)?{_DATE}\s+at\s+{_TIME}", re.I
)
_COMMENT_START = re.compile(rf"{_BULLET}posted\s+by\b", re.I)

_LOOK = re.compile(r"what\s+it\s+might\s+look\s+like\s*(?::\s*(?P<rest>.*))?", re.I)
_WHY = re.compile(
    r"why\s+(?:the\s+|this\s+)?(?:contribution|idea)\s+(?:is\s+important|matters)"
    r"\s*(?::\s*(?P<rest>.*))?",
    re.I,
)
_RATE = re.compile(r"rate\s+this\s+idea\s*(?:[:(].*)?", re.I)
_ADD_COMMENTS = re.compile(r"add\s+comments\s*(?::\s*(?P<rest>.*))?", re.I)
_CURRENT_RATING = re.compile(r"current\s+rating\s*:?", re.I)
_AVERAGE = re.compile(r"average\s+rating\s*:\s*(?P<value>\d+(?:\.\d+)?)", re.I)
_AVERAGE_START = re.compile(r"average\s+rating\b", re.I)
_BASED_ON = re.compile(r"based\s+on\s*:\s*(?P<count>\d[\d,]*)\s+votes?", re.I)
_BASED_ON_START = re.compile(r"based\s+on\s*:", re.I)
_FOOTER = re.compile(r"log\s+in\s+or\s+register\b.*", re.I)

_TAG_LINE = re.compile(r"#?[a-z0-9][a-z0-9_-]*(?:[ ,]+#?[a-z0-9][a-z0-9_-]*)*")
_MAX_TAGS_PER_LINE = 8
_MAX_TAG_LENGTH = 40
_MAX_TITLE_WORDS = 25

_AUTHOR_FORMAT = 'the author line "by <name> on <Month DD, YYYY> at <hh:mmAM/PM>"'
_COMMENT_FORMAT = 'a comment header "Posted by <name> <Month DD, YYYY> at <HH:MM>"'


class LegacyPageError(ValueError):
    """A legacy page that cannot be read, with where and why.

    ``line`` is 1-based; a page that ends too early reports the line after
    its last one. ``str(error)`` reads like
    ``line 14: expected "Based on: N votes" after "Average rating", found end of file``.
    """

    def __init__(self, line: int, expected: str, found: str) -> None:
        self.line = line
        self.expected = expected
        self.found = found
        super().__init__(f"line {line}: expected {expected}, found {found}")


@dataclass(frozen=True)
class LegacyComment:
    """One comment as the page showed it; ``body`` keeps paragraphs apart
    with a blank line."""

    author: str
    posted_at: datetime
    body: str


@dataclass(frozen=True)
class LegacyIdea:
    """An idea read from a legacy page.

    Text sections the page lacks are ``""``; lists it lacks are empty.
    Paragraphs are separated by a blank line. ``rating_average`` is ``None``
    when the page shows no rating or no votes. Times are aware, in
    Australia/Sydney.
    """

    title: str
    description: str
    what_it_might_look_like: str
    why_it_matters: str
    prompts: list[str]
    tags: list[str]
    author: str
    posted_at: datetime
    rating_average: float | None
    rating_count: int
    comments: list[LegacyComment] = field(default_factory=list)

    def fingerprint(self) -> str:
        """A stable SHA-256 (64 hex digits) identifying the page's content.

        It covers the title, author, posting time and every comment (author,
        time, text), with whitespace and Unicode forms normalised and
        comments taken in a fixed order, so the same page exported again -
        with other line endings, spacing or bullets - gives the same value,
        and a page with other comments does not.
        """
        content = {
            "v": _FINGERPRINT_VERSION,
            "title": _canonical(self.title),
            "author": _canonical(self.author),
            "posted_at": _utc(self.posted_at),
            "comments": sorted(
                [_utc(c.posted_at), _canonical(c.author), _canonical(c.body)]
                for c in self.comments
            ),
        }
        encoded = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def _canonical(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _utc(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat()


@dataclass(frozen=True)
class _Line:
    number: int
    text: str


def _lines(text: str) -> list[_Line]:
    text = unicodedata.normalize("NFC", text).lstrip("\ufeff")
    raw_lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if raw_lines[-1] == "":
        # A final newline ends the last line; it does not start another.
        raw_lines.pop()
    # str.split() also splits on tabs and non-breaking spaces.
    return [
        _Line(number, " ".join(raw.replace("\u200b", "").split()))
        for number, raw in enumerate(raw_lines, start=1)
    ]


def _found(line: _Line | None) -> str:
    if line is None:
        return "end of file"
    shown = line.text if len(line.text) <= 60 else line.text[:59] + "…"
    return f'"{shown}"'


def _full(pattern: re.Pattern[str], line: _Line) -> re.Match[str] | None:
    return pattern.fullmatch(line.text)


def _when(match: re.Match[str], line: _Line) -> datetime:
    """The aware Canberra time in a matched date-and-time."""
    hour, minute = int(match["hour"]), int(match["minute"])
    ampm = match["ampm"]
    valid = minute <= 59 and (1 <= hour <= 12 if ampm else hour <= 23)
    if valid and ampm:
        hour = hour % 12 + (12 if ampm.lower().startswith("p") else 0)
    try:
        if not valid:
            raise ValueError("time out of range")
        return datetime(
            int(match["year"]),
            _MONTHS[match["month"].lower()[:3]],
            int(match["day"]),
            hour,
            minute,
            tzinfo=CANBERRA,
        )
    except ValueError:
        raise LegacyPageError(
            line.number, "a real date and time (e.g. February 23, 2018 at 01:15PM)", _found(line)
        ) from None


def _paragraphs(lines: list[_Line]) -> list[list[_Line]]:
    paragraphs: list[list[_Line]] = []
    current: list[_Line] = []
    for line in lines:
        if line.text:
            current.append(line)
        elif current:
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)
    return paragraphs


def _join(paragraphs: list[list[_Line]]) -> str:
    return "\n\n".join("\n".join(line.text for line in paragraph) for paragraph in paragraphs)


def _title_like(line: _Line) -> bool:
    text = line.text
    return (
        len(text) <= MAX_TITLE_LENGTH
        and len(text.split()) <= _MAX_TITLE_WORDS
        and not text.endswith((".", ",", ";", ":"))
    )


def _tags_in(line: _Line) -> list[str] | None:
    """The tags on a tag line, or None when the line is not unambiguously one.

    A tag line is lower-case words, digits, "-" and "_" only, separated by
    spaces or commas, at most eight of them, none of them a common English
    word, so that ordinary prose is not mistaken for tags.
    """
    if not _TAG_LINE.fullmatch(line.text):
        return None
    tags = [tag.lstrip("#") for tag in re.split(r"[ ,]+", line.text) if tag]
    if (
        not tags
        or len(tags) > _MAX_TAGS_PER_LINE
        or any(len(tag) > _MAX_TAG_LENGTH or tag in STOP_WORDS for tag in tags)
    ):
        return None
    return tags


def _split_prompts(text: str) -> list[str]:
    """Discussion prompts, one per question.

    Text is cut after each "?" that is not inside brackets (so "(annual?)"
    stays inside its question); text after the last question mark is kept
    as a prompt of its own.
    """
    prompts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        current.append(char)
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        elif char == "?" and depth == 0:
            prompts.append("".join(current))
            current = []
    prompts.append("".join(current))
    cleaned = (" ".join(prompt.split()) for prompt in prompts)
    return [prompt for prompt in cleaned if any(char.isalnum() for char in prompt)]


@dataclass
class _Front:
    """What comes before the author line, split into its sections."""

    intro: list[_Line] = field(default_factory=list)
    intro_end: _Line | None = None
    look: list[_Line] = field(default_factory=list)
    why: list[_Line] = field(default_factory=list)
    prompts: list[_Line] = field(default_factory=list)


def _read_front(lines: list[_Line]) -> tuple[_Front, _Line, int]:
    """Split the lines before the author line; return them, the author line
    and the index just after it."""
    front = _Front()
    section = front.intro
    seen: set[str] = set()

    def enter(name: str, line: _Line, target: list[_Line], rest: str | None) -> list[_Line]:
        if name in seen:
            raise LegacyPageError(
                line.number, f"{_AUTHOR_FORMAT} before another section", _found(line)
            )
        seen.add(name)
        if front.intro_end is None:
            front.intro_end = line
        # A blank separator keeps the previous section's last paragraph and
        # this one's apart.
        target.append(_Line(line.number, ""))
        if rest:
            target.append(_Line(line.number, rest))
        return target

    for index, line in enumerate(lines):
        text = line.text
        if not text:
            section.append(line)
            continue
        if _full(_AUTHOR, line):
            if front.intro_end is None:
                front.intro_end = line
            return front, line, index + 1
        if _AUTHOR_START.match(text):
            raise LegacyPageError(line.number, _AUTHOR_FORMAT, _found(line))
        if (
            _full(_CURRENT_RATING, line)
            or _full(_AVERAGE, line)
            or _full(_BASED_ON, line)
            or _full(_COMMENT, line)
            or _full(_FOOTER, line)
        ):
            raise LegacyPageError(line.number, _AUTHOR_FORMAT, _found(line))
        if match := _full(_LOOK, line):
            section = enter("look", line, front.look, match["rest"])
        elif match := _full(_WHY, line):
            section = enter("why", line, front.why, match["rest"])
        elif _full(_RATE, line):
            section = enter("rate", line, front.prompts, None)
        elif match := _full(_ADD_COMMENTS, line):
            section = enter("add", line, front.prompts, match["rest"])
        else:
            section.append(line)
    end = len(lines) + 1
    raise LegacyPageError(end, _AUTHOR_FORMAT, "end of file")


def _read_intro(front: _Front) -> tuple[str, str, list[str]]:
    """Title, description and tags from the lines before the first section."""
    paragraphs = _paragraphs(front.intro)
    flat = [line for paragraph in paragraphs for line in paragraph]
    if not flat:
        place = front.intro_end
        raise LegacyPageError(place.number if place else 1, "the idea's title", _found(place))
    # A site header is recognised only when it and the title stand alone in
    # their own paragraphs, both read like titles, and description follows;
    # otherwise the first line is the title.
    has_header = (
        len(paragraphs) >= 3
        and len(paragraphs[0]) == 1
        and len(paragraphs[1]) == 1
        and _title_like(flat[0])
        and _title_like(flat[1])
        and any(_tags_in(line) is None for paragraph in paragraphs[2:] for line in paragraph)
    )
    if has_header:
        paragraphs = paragraphs[1:]
    title_line = paragraphs[0][0]
    if len(title_line.text) > MAX_TITLE_LENGTH:
        raise LegacyPageError(
            title_line.number,
            f"a title of at most {MAX_TITLE_LENGTH} characters",
            f"{len(title_line.text)} characters",
        )
    rest = ([paragraphs[0][1:]] if len(paragraphs[0]) > 1 else []) + paragraphs[1:]
    # Trailing one-line paragraphs that are unambiguously tag lines are tags,
    # as long as some description comes before them.
    tag_lines: list[list[str]] = []
    while len(rest) > 1 and len(rest[-1]) == 1 and (tags := _tags_in(rest[-1][0])) is not None:
        tag_lines.insert(0, tags)
        rest = rest[:-1]
    tags: list[str] = []
    for line_tags in tag_lines:
        tags.extend(tag for tag in line_tags if tag not in tags)
    return title_line.text, _join(rest), tags


def _next_text(lines: list[_Line], index: int) -> tuple[_Line | None, int]:
    """The next non-blank line at or after ``index`` and the index after it."""
    while index < len(lines):
        if lines[index].text:
            return lines[index], index + 1
        index += 1
    return None, index


def _eof(lines: list[_Line]) -> _Line:
    return _Line(len(lines) + 1, "")


def _read_rating(lines: list[_Line], index: int) -> tuple[float | None, int, int]:
    """The rating block right after the author line, if any: average, vote
    count, and the index to carry on from."""
    line, after = _next_text(lines, index)
    if line is None:
        return None, 0, index
    if _full(_CURRENT_RATING, line):
        line, after = _next_text(lines, after)
        if line is None or not _full(_AVERAGE, line):
            place = line or _eof(lines)
            raise LegacyPageError(
                place.number, '"Average rating: X.Y" after "Current Rating"', _found(line)
            )
    if _AVERAGE_START.match(line.text):
        average_match = _full(_AVERAGE, line)
        if average_match is None:
            raise LegacyPageError(line.number, '"Average rating: X.Y"', _found(line))
        average = float(average_match["value"])
        if not 0 <= average <= 5:
            raise LegacyPageError(line.number, "an average rating from 0 to 5", _found(line))
        line, after = _next_text(lines, after)
        if line is None or not _full(_BASED_ON, line):
            place = line or _eof(lines)
            raise LegacyPageError(
                place.number, '"Based on: N votes" after "Average rating"', _found(line)
            )
        count_match = _full(_BASED_ON, line)
        assert count_match is not None
        count = int(count_match["count"].replace(",", ""))
        return (average if count else None), count, after
    if _BASED_ON_START.match(line.text):
        raise LegacyPageError(line.number, '"Average rating: X.Y" before "Based on"', _found(line))
    return None, 0, index


def _read_comments(lines: list[_Line], index: int) -> list[LegacyComment]:
    comments: list[LegacyComment] = []
    header: _Line | None = None
    author = ""
    posted_at: datetime | None = None
    body: list[_Line] = []

    def close() -> None:
        if header is not None and posted_at is not None:
            comments.append(LegacyComment(author, posted_at, _join(_paragraphs(body))))

    for line in lines[index:]:
        if not line.text:
            body.append(line)
            continue
        if match := _full(_COMMENT, line):
            close()
            header, body = line, []
            author, posted_at = " ".join(match["name"].split()), _when(match, line)
        elif _COMMENT_START.match(line.text):
            raise LegacyPageError(line.number, _COMMENT_FORMAT, _found(line))
        elif _full(_FOOTER, line):
            break
        elif header is None:
            raise LegacyPageError(
                line.number, f"{_COMMENT_FORMAT} or the end of the page", _found(line)
            )
        else:
            body.append(line)
    else:
        # The page ended without its footer: a comment with no text yet is
        # where it was cut.
        if header is not None and not any(line.text for line in body):
            raise LegacyPageError(
                len(lines) + 1, f'the text of the comment on line {header.number}', "end of file"
            )
    close()
    return comments


def parse_legacy_page(text: str) -> LegacyIdea:
    """Read one legacy consultation page (its plain-text export).

    Returns the idea with its sections, prompts, tags, author, posting time,
    rating and comments. Raises :class:`LegacyPageError` when the title or
    the author line is missing or malformed, when the rating block is
    incomplete, when a comment header or date does not parse, or when the
    page ends before its author line or inside the rating block.
    """
    lines = _lines(text)
    if not any(line.text for line in lines):
        raise LegacyPageError(1, "the idea's title", "end of file")
    front, author_line, index = _read_front(lines)
    title, description, tags = _read_intro(front)
    author_match = _full(_AUTHOR, author_line)
    assert author_match is not None
    posted_at = _when(author_match, author_line)
    average, count, index = _read_rating(lines, index)
    comments = _read_comments(lines, index)
    return LegacyIdea(
        title=title,
        description=description,
        what_it_might_look_like=_join(_paragraphs(front.look)),
        why_it_matters=_join(_paragraphs(front.why)),
        prompts=_split_prompts(" ".join(line.text for line in front.prompts if line.text)),
        tags=tags,
        author=" ".join(author_match["name"].split()),
        posted_at=posted_at,
        rating_average=average,
        rating_count=count,
        comments=comments,
    )
