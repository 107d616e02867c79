"""Full-text search terms, shared by every service that makes text searchable.

The storage server offers no ``$text`` index, so each searchable document
carries its own normalised, stemmed terms:

* ``search_terms`` (:data:`TERMS_FIELD`) - the sorted, unique stems of the
  document, indexed with :data:`INDEX_KEYS` (a multikey index);
* ``search_weights`` (:data:`WEIGHTS_FIELD`) - ``{stem: weight}`` for exactly
  the same stems, which :func:`rank` sums for the stems a query matched.

A service that makes a collection searchable:

1. declares the index once: ``collection.create_index(**search.INDEX)``;
2. merges ``search.terms_for({...}, weights)`` into every document it writes;
3. answers a query with::

       terms = search.query_terms(q)
       if not terms:
           return []
       candidates = collection.find(search.mongo_filter(terms))
       docs = [doc for doc in candidates if search.matches(doc, terms)]
       ranked = search.rank(docs, terms, time_field="published_at")
       # and search.snippet(doc_text, terms) for what is shown

The site's one search asks every service that holds searchable content for
its part (:func:`answer_part`: ranked hits with snippets, facet counts and,
when nothing is found, :func:`did_you_mean`) and ranks the parts together
with :func:`merge`.

All of this is pure: no database, broker or framework is touched here.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import Stemmer
from markupsafe import Markup, escape

TERMS_FIELD = "search_terms"
WEIGHTS_FIELD = "search_weights"

#: Key spec of the index every searchable collection must declare.
INDEX_KEYS: list[tuple[str, int]] = [(TERMS_FIELD, 1)]
INDEX_NAME = "search_terms"
#: ``collection.create_index(**INDEX)`` or ``pymongo.IndexModel(**INDEX)``.
INDEX: dict[str, Any] = {"keys": INDEX_KEYS, "name": INDEX_NAME}

#: Field weights used when a caller does not give its own. They must be
#: integers: the count bonus is always below 1, so a term found in a heavier
#: field always outweighs any number of occurrences in a lighter one.
DEFAULT_FIELD_WEIGHTS: dict[str, int] = {"title": 10, "summary": 3, "body": 1}

#: A document keeps at most this many terms (the most heavily weighted), so
#: its index entries and its size stay bounded however long the text is.
MAX_TERMS = 500
#: A query uses at most this many terms; the rest of a very long query is
#: ignored rather than turned into a very large filter.
MAX_QUERY_TERMS = 32

_MIN_TOKEN_LENGTH = 2
# Longer "words" are identifiers, hashes or encoded data, not vocabulary.
_MAX_TOKEN_LENGTH = 40
_COUNT_BONUS_STEP = 0.1
_COUNT_BONUS_MAX = 0.9

STOP_WORDS: frozenset[str] = frozenset(
    """
    a about an and are as at be been but by can could did do does for from
    had has have he her his how i if in into is it its me my no nor not of
    on or our she so than that the their them then there these they this
    those to too us was we were what when where which who whom why will
    with would you your
    """.split()
)

# Letters and digits, plus combining accents that did not compose with the
# letter before them, so a decomposed "café" stays one word.
_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_CHAR = rf"(?:[^\W_]|[{_MARKS}])"
_WORD = re.compile(rf"[^\W_]{_CHAR}*(?:['\u2019]{_CHAR}+)*")
_STEM = re.compile(r"[^\W_]+")

_stemmer = Stemmer.Stemmer("english")
# Stemmer objects keep an internal cache and are not safe to share between
# threads without a lock; stemming is fast, so one lock is enough.
_stemmer_lock = threading.Lock()


def _fold(token: str) -> str:
    """Lower-case, compatibility-normalise and strip accents from one token."""
    token = unicodedata.normalize("NFKC", token).casefold()
    token = unicodedata.normalize("NFD", token)
    token = "".join(ch for ch in token if unicodedata.category(ch) != "Mn")
    return unicodedata.normalize("NFC", token).replace("\u2019", "'")


def _words_of(token: str) -> list[str]:
    """The indexable words in one token as written, before stemming.

    Possessive "'s" is dropped and other apostrophes removed ("don't" ->
    "dont", "O'Brien" -> "obrien") so that typing a word with or without
    its apostrophe finds the same thing.
    """
    words = []
    for piece in _WORD.findall(_fold(token)):
        if piece.endswith("'s"):
            piece = piece[:-2]
        piece = piece.replace("'", "")
        if (
            _MIN_TOKEN_LENGTH <= len(piece) <= _MAX_TOKEN_LENGTH
            and piece not in STOP_WORDS
            and _STEM.fullmatch(piece)
        ):
            words.append(piece)
    return words


def _stem_all(words: list[str]) -> list[str]:
    if not words:
        return []
    with _stemmer_lock:
        return _stemmer.stemWords(words)


def _tokens(text: str) -> Iterator[re.Match[str]]:
    return _WORD.finditer(unicodedata.normalize("NFC", text))


def _stems(text: str) -> list[str]:
    """Every stem in ``text``, in order, repeats kept."""
    words: list[str] = []
    for match in _tokens(text):
        words.extend(_words_of(match.group()))
    return _stem_all(words)


def _as_text(value: str | Iterable[str] | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return " ".join(str(item) for item in value if item)


def terms_for(
    fields: Mapping[str, str | Iterable[str] | None],
    weights: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The search fields to store on a document, built from its text fields.

    ``fields`` maps a field name to its text (a string, a list of strings such
    as tags, or ``None`` for nothing); ``weights`` gives each field's weight
    (default :data:`DEFAULT_FIELD_WEIGHTS`). Every field in ``fields`` must
    have a positive integer weight, otherwise ``ValueError``.

    Returns ``{"search_terms": [...], "search_weights": {...}}``:

    * ``search_terms`` - sorted, unique stems, at most :data:`MAX_TERMS`;
    * ``search_weights`` - for exactly those stems, the weight of the
      heaviest field the stem occurs in plus a bonus below 1 that grows with
      the number of occurrences across all fields (0.1 per extra occurrence,
      at most 0.9).

    When there are more than :data:`MAX_TERMS` stems, the most heavily
    weighted are kept (ties: alphabetical), so the cap is deterministic.
    """
    weights = DEFAULT_FIELD_WEIGHTS if weights is None else weights
    best: dict[str, int] = {}
    counts: dict[str, int] = {}
    for name, value in fields.items():
        weight = weights.get(name)
        if not isinstance(weight, int) or isinstance(weight, bool) or weight < 1:
            raise ValueError(f"search field {name!r} needs a positive integer weight")
        for stem in _stems(_as_text(value)):
            counts[stem] = counts.get(stem, 0) + 1
            if weight > best.get(stem, 0):
                best[stem] = weight
    scored = {
        stem: round(
            best[stem] + min((counts[stem] - 1) * _COUNT_BONUS_STEP, _COUNT_BONUS_MAX), 1
        )
        for stem in best
    }
    kept = sorted(scored, key=lambda stem: (-scored[stem], stem))[:MAX_TERMS]
    kept.sort()
    return {TERMS_FIELD: kept, WEIGHTS_FIELD: {stem: scored[stem] for stem in kept}}


def query_terms(q: str | None) -> list[str]:
    """The stems to search for, normalised exactly as :func:`terms_for` does.

    Unique, in the order they first appear in ``q``, at most
    :data:`MAX_QUERY_TERMS`. An empty query, or one made only of stop words,
    punctuation or one-letter words, gives ``[]``: callers answer it with no
    results rather than querying.
    """
    if not q:
        return []
    seen: dict[str, None] = {}
    for stem in _stems(q):
        seen.setdefault(stem, None)
        if len(seen) == MAX_QUERY_TERMS:
            break
    return list(seen)


def _checked(terms: Iterable[str]) -> list[str]:
    checked: list[str] = []
    for term in terms:
        # Terms become part of a filter (and of a field path); only what
        # query_terms can produce is accepted, so nothing can inject an
        # operator or a path.
        if not isinstance(term, str) or not _STEM.fullmatch(term):
            raise ValueError(f"not a search term: {term!r}")
        if term not in checked:
            checked.append(term)
    return checked


def mongo_filter(
    terms: Sequence[str], *, frequencies: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """The storage filter for a search: one equality on ``search_terms`` for the lead term.

    It returns the candidates holding the lead term; the caller keeps those
    that hold every term with :func:`matches` and orders them with
    :func:`rank`. The lead is the rarest term when ``frequencies`` (stem ->
    number of documents holding it) is given, otherwise the longest one,
    since longer stems tend to be rarer.

    Why this shape: the embedded storage server answers ``$all``, ``$and``
    and ``$elemMatch`` on an array, and even one indexed equality combined
    with conditions on other fields, with a full collection scan; forcing the
    index with ``.hint()`` walks the whole index. A lone equality on the
    multikey field is served from the index there and on MongoDB alike, so
    a query costs what its matches cost, not what the collection holds.
    Callers must not add ``.hint()`` or further conditions.

    ``terms`` must come from :func:`query_terms` (``ValueError`` otherwise).
    With no terms the filter matches nothing.
    """
    checked = _checked(terms)
    if not checked:
        return {TERMS_FIELD: {"$in": []}}
    if frequencies is not None:
        lead = min(checked, key=lambda term: (frequencies.get(term, 0), -len(term), term))
    else:
        lead = min(checked, key=lambda term: (-len(term), term))
    return {TERMS_FIELD: lead}


def matches(doc: Mapping[str, Any], terms: Iterable[str]) -> bool:
    """Whether ``doc`` holds every one of ``terms`` (the in-memory twin of
    :func:`mongo_filter`). No terms never match."""
    held = set(doc.get(TERMS_FIELD) or ())
    wanted = list(terms)
    return bool(wanted) and all(term in held for term in wanted)


def score(doc: Mapping[str, Any], terms: Iterable[str]) -> float:
    """The sum of the document's stored weights for the ``terms`` it holds.

    A document stored without ``search_weights`` counts 1 for each term it
    holds in ``search_terms``.
    """
    weights = doc.get(WEIGHTS_FIELD)
    if isinstance(weights, Mapping):
        return float(sum(weights.get(term, 0) for term in set(terms)))
    held = set(doc.get(TERMS_FIELD) or ())
    return float(sum(1 for term in set(terms) if term in held))


def _field(doc: Mapping[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _timestamp(value: Any) -> float | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            # pymongo hands back naive datetimes that are UTC.
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def rank(
    docs: Iterable[Mapping[str, Any]],
    terms: Iterable[str],
    *,
    time_field: str | None = None,
) -> list[Mapping[str, Any]]:
    """``docs`` ordered best first.

    Higher :func:`score` first; equal scores put the newer document first by
    ``time_field`` (a dotted path to a datetime - naive ones are taken as
    UTC -, an ISO 8601 string or a Unix time); documents without a time come
    after those with one. Remaining ties keep their input order. Documents
    are not filtered: callers pass the candidates :func:`mongo_filter` found.
    """
    wanted = list(terms)

    def key(doc: Mapping[str, Any]) -> tuple[float, float]:
        when = _timestamp(_field(doc, time_field)) if time_field else None
        return (-score(doc, wanted), -when if when is not None else float("inf"))

    return sorted(docs, key=key)


def _snap_start(text: str, start: int, limit: int) -> int:
    """Move a cut forward to the start of a word, but never past ``limit``."""
    if start <= 0 or text[start - 1] == " ":
        return start
    space = text.find(" ", start, limit)
    return space + 1 if space != -1 else start


def _snap_end(text: str, end: int, limit: int) -> int:
    """Move a cut back to the end of a word, but never before ``limit``."""
    if end >= len(text) or text[end] == " ":
        return end
    space = text.rfind(" ", limit, end)
    return space if space != -1 else end


def snippet(text: str | None, terms: Iterable[str], *, width: int = 160) -> Markup:
    """An HTML-safe excerpt of ``text`` with the words matching ``terms`` marked.

    Whitespace is collapsed to single spaces and the text is HTML-escaped;
    every word whose stem is one of ``terms`` is wrapped in
    ``<mark>…</mark>`` (so "engaging" is marked for the query
    "engagement"). At most ``width`` characters of the text are kept,
    centred on the first matching word (the start of the text when nothing
    matches), cut at word boundaries where possible, with "…" marking each
    cut. The result is :class:`markupsafe.Markup`, so templates do not
    escape it again; it is a ``str`` for everything else.
    """
    clean = " ".join(unicodedata.normalize("NFC", text or "").split())
    if not clean:
        return Markup("")
    wanted = set(terms)
    tokens = [
        (match.start(), match.end(), _words_of(match.group()))
        for match in _WORD.finditer(clean)
    ]
    stems = iter(_stem_all([word for _, _, words in tokens for word in words]))
    hits = []
    for token_start, token_end, words in tokens:
        if wanted.intersection([next(stems) for _ in words]):
            hits.append((token_start, token_end))
    width = max(int(width), 1)
    start, end = 0, len(clean)
    if len(clean) > width:
        if hits:
            first_start, first_end = hits[0]
            centre = (first_start + first_end) // 2
            start = max(0, min(centre - width // 2, len(clean) - width))
            end = start + width
            start = _snap_start(clean, start, first_start)
            end = _snap_end(clean, end, first_end)
        else:
            end = _snap_end(clean, width, 1)
    out = [Markup("…") if start > 0 else Markup("")]
    position = start
    for hit_start, hit_end in hits:
        if hit_start < start or hit_end > end:
            continue
        out.append(escape(clean[position:hit_start]))
        out.append(Markup("<mark>%s</mark>") % clean[hit_start:hit_end])
        position = hit_end
    out.append(escape(clean[position:end]))
    if end < len(clean):
        out.append(Markup("…"))
    return Markup("").join(out).strip()


_SNIPPET_SHAPE = re.compile(r"(?:[^<>&]|&(?:amp|lt|gt|#39|#34|quot);|</?mark>)*")


def snippet_markup(value: str | None) -> Markup:
    """A snippet made by :func:`snippet` that travelled as a plain ``str``, as markup again.

    Only escaped text and ``<mark>`` tags pass as markup; anything else is
    escaped whole, so a page can show a snippet from another process without
    trusting it.
    """
    text = value or ""
    if isinstance(text, Markup) or _SNIPPET_SHAPE.fullmatch(text):
        return Markup(text)
    return escape(text)


# -- one search over several sources ------------------------------------------
#
# Each service that holds searchable content answers its part of a search with
# :func:`answer_part`; :func:`merge` makes one answer of the parts. A hit is a
# dict with a ``score``, an ``at`` time, a value (or None) for every facet, a
# ``title`` and the ``text`` its snippet is cut from.


def passes(hit: Mapping[str, Any], filters: Mapping[str, str | None]) -> bool:
    """Whether ``hit`` holds the value of every filter given (a filter of None asks for nothing)."""
    return all(value is None or hit.get(name) == value for name, value in filters.items())


def facet_counts(hits: Iterable[Mapping[str, Any]], filters: Mapping[str, str | None]) -> dict[str, dict[str, int]]:
    """For each facet named in ``filters``, how many ``hits`` hold each of its values.

    A facet's values are counted over the hits that pass every *other*
    filter, so once a value is chosen the others still say what choosing them
    would give. Hits without a value for a facet are not counted under it.
    """
    counts: dict[str, dict[str, int]] = {name: {} for name in filters}
    for hit in hits:
        for name in filters:
            value = hit.get(name)
            if value is not None and passes(hit, {other: wanted for other, wanted in filters.items() if other != name}):
                counts[name][value] = counts[name].get(value, 0) + 1
    return counts


def best_first(hits: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Hits by ``score``, higher first; equal scores put the newer ``at`` first, then keep their order."""
    def key(hit: Mapping[str, Any]) -> tuple[float, float]:
        when = _timestamp(hit.get("at"))
        return (-float(hit.get("score") or 0), -when if when is not None else float("inf"))

    return sorted(hits, key=key)


HitsFor = Callable[[list[str]], list[Mapping[str, Any]]]


def presented(hit: Mapping[str, Any], terms: Iterable[str]) -> dict[str, Any]:
    """A hit as it is answered: its ``snippet`` (see :func:`snippet`) in place of its ``text``."""
    return {**{name: value for name, value in hit.items() if name != "text"},
            "snippet": str(snippet(hit.get("text"), terms))}


def answer_part(q: str, filters: Mapping[str, str | None], count: int, hits_for: HitsFor,
                stems_near: Callable[[str], Iterable[str]]) -> dict[str, Any]:
    """One source's part of a search for ``q``: ``{"items", "total", "facets", "suggestion"}``.

    ``hits_for(terms)`` gives every hit the source holds for ``terms``, and
    only hits anyone may see, so the part is the same for every reader.
    ``items`` are the best ``count`` hits passing ``filters``, each with its
    ``snippet`` in place of its ``text``; ``count`` is the end of the page
    asked for, so the parts :func:`merge` ranks together hold every hit that
    page may need. ``total`` counts the hits passing, ``facets`` are
    :func:`facet_counts`, and ``suggestion`` is :func:`did_you_mean`'s when
    none pass.
    """
    terms = query_terms(q)
    ranked = best_first(hits_for(terms)) if terms else []
    passing = [hit for hit in ranked if passes(hit, filters)]
    return {"items": [presented(hit, terms) for hit in passing[:count]], "total": len(passing),
            "facets": facet_counts(ranked, filters),
            "suggestion": did_you_mean(q, stems_near, hits_for, filters) if terms and not passing else None}


def merge(parts: Sequence[Mapping[str, Any]], *, start: int, limit: int) -> dict[str, Any]:
    """One answer from several sources' parts of the same search, ranked together.

    ``items`` are the hits from ``start`` to ``start + limit`` of every part
    ranked by :func:`best_first` (ties keep the parts' order); ``total`` and
    the facet counts are the parts' summed, each facet's values listed by
    count, largest first. When nothing is found, ``did_you_mean`` is the
    closest ``suggestion`` any part made (None otherwise).
    """
    ranked = best_first(item for part in parts for item in part["items"])
    total = sum(int(part["total"]) for part in parts)
    summed: dict[str, dict[str, int]] = {}
    for part in parts:
        for name, values in part["facets"].items():
            into = summed.setdefault(name, {})
            for value, count in values.items():
                into[value] = into.get(value, 0) + int(count)
    facets = {name: [{"value": value, "count": count}
                     for value, count in sorted(values.items(), key=lambda pair: (-pair[1], pair[0]))]
              for name, values in summed.items()}
    suggestions = [part["suggestion"] for part in parts if part.get("suggestion")]
    closest = min(suggestions, key=lambda s: s["distance"]) if suggestions and not total else None
    end = start + limit
    return {"items": ranked[start:end], "next_cursor": str(end) if end < total else None, "total": total,
            "facets": facets, "did_you_mean": closest["q"] if closest else None}


# -- did you mean --------------------------------------------------------------

#: Suggestions are looked for among the stems that share this many first letters
#: with the stem typed: few typing slips touch the first two letters, and the
#: index reads only that range.
NEAR_PREFIX = 2
#: At most this many words of a query are corrected, each after at most this
#: many nearby stems were tried.
MAX_CORRECTED_WORDS = 3
MAX_TRIES_PER_WORD = 3


def edit_distance(a: str, b: str) -> int:
    """Insertions, deletions, substitutions and swaps of two neighbours that turn ``a`` into ``b``."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def allowed_edits(word: str) -> int:
    """How far a suggestion may be from a typed word: one slip in a short word, two in a longer one."""
    return 1 if len(word) <= 4 else 2


def near_filter(stem: str) -> dict[str, Any]:
    """The storage filter for documents holding a stem that starts as ``stem`` does (a range on the index)."""
    prefix = _checked([stem])[0][:NEAR_PREFIX]
    return {TERMS_FIELD: {"$gte": prefix, "$lt": prefix[:-1] + chr(ord(prefix[-1]) + 1)}}


def _closeness(word: str, stem: str, candidate: str) -> int:
    """How near a known stem is to a typed word: the better of stem against stem and word start against stem.

    The second reading matters when a slip changes what the stemmer strips
    ("consultaton" keeps its ending, "consultation" becomes "consult").
    """
    starts = [edit_distance(word[:length], candidate)
              for length in range(len(candidate) - 1, len(candidate) + 2) if 0 < length <= len(word)]
    return min([edit_distance(stem, candidate), *starts])


def _typed_words(q: str) -> list[tuple[str, str]]:
    """``(word, stem)`` for each indexable word of a query, first occurrence of each stem only."""
    words = [word for match in _tokens(q) for word in _words_of(match.group())]
    pairs: dict[str, str] = {}
    for word, stem in zip(words, _stem_all(words)):
        pairs.setdefault(stem, word)
    return [(word, stem) for stem, word in pairs.items()][:MAX_QUERY_TERMS]


def _spelling(text: str, stem: str, typed: str) -> str | None:
    """The word of ``text`` with stem ``stem`` that is closest to ``typed`` (lower-cased), or None."""
    words = [word for match in _tokens(text) for word in _words_of(match.group())]
    spelt = [word for word, found in zip(words, _stem_all(words)) if found == stem]
    return min(spelt, key=lambda word: (edit_distance(typed, word), word)) if spelt else None


def _rewritten(q: str, spellings: Mapping[str, str]) -> str:
    """``q`` with each word whose stem is in ``spellings`` written as given there, everything else as typed."""
    def replace(match: re.Match[str]) -> str:
        stems = _stem_all(_words_of(match.group()))
        return next((spellings[stem] for stem in stems if stem in spellings), match.group())

    return " ".join(_WORD.sub(replace, unicodedata.normalize("NFC", q)).split())


def _correction(word: str, stem: str, known: set[str], text_holding: Callable[[str], str]) -> tuple[str, int] | None:
    """``(spelling, edits)`` for a typed word whose stem no document holds, or None when nothing is near enough.

    The nearest known stems are tried (at most :data:`MAX_TRIES_PER_WORD`),
    each spelt as a document holding it spells it; the spelling fewest edits
    away wins, the longer on a tie ("servce": "service" before "serve").
    """
    limit = allowed_edits(word)
    nearby = {candidate: _closeness(word, stem, candidate) for candidate in known
              if candidate.startswith(stem[:NEAR_PREFIX]) and NEAR_PREFIX < len(candidate) <= len(word) + limit}
    tries = sorted((c for c, d in nearby.items() if d <= limit), key=lambda c: (nearby[c], -len(c), c))
    spellings = {spelt for candidate in tries[:MAX_TRIES_PER_WORD]
                 if (spelt := _spelling(text_holding(candidate), candidate, word))}
    scored = sorted((edit_distance(word, spelt), -len(spelt), spelt) for spelt in spellings)
    if not scored or scored[0][0] > limit:
        return None
    return scored[0][2], scored[0][0]


def did_you_mean(q: str, stems_near: Callable[[str], Iterable[str]], hits_for: HitsFor,
                 filters: Mapping[str, str | None]) -> dict[str, Any] | None:
    """A nearby query for one that found nothing: ``{"q": …, "distance": …}``, or None.

    Each word of ``q`` whose stem is not among ``stems_near(stem)`` (the known
    stems a store reads with :func:`near_filter`) is replaced by the spelling
    of a known stem close to it, as a hit holding that stem spells it, within
    :func:`allowed_edits` of the word typed. The corrected query is offered
    only when ``hits_for`` finds it a hit passing ``filters``, so a suggestion
    never leads to nothing, nor to what only some may see (stores know the
    stems of drafts too). ``distance`` counts the edits made, for choosing
    between suggestions.
    """
    def text_holding(stem: str) -> str:
        """The words of a hit holding ``stem``, to spell it as the hits do."""
        return " ".join(part for hit in hits_for([stem])[:1]
                        for part in (hit.get("title") or "", *(hit.get("tags") or []), hit.get("text") or ""))

    spellings: dict[str, str] = {}
    distance = 0
    for word, stem in _typed_words(q):
        known = set(stems_near(stem))
        if stem in known:
            continue
        correction = _correction(word, stem, known, text_holding) if len(spellings) < MAX_CORRECTED_WORDS else None
        if correction is None:
            return None
        spellings[stem], edits = correction
        distance += edits
    if not spellings:
        return None
    suggested = _rewritten(q, spellings)
    found = any(passes(hit, filters) for hit in hits_for(query_terms(suggested)))
    return {"q": suggested, "distance": distance} if found else None
