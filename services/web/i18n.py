"""Page strings for translation (gettext catalogs under ``locale/``; en-AU is the default) and local times.

Every page string lives in ``locale/messages.pot``, extracted from the templates
and from Python with Babel; each language has its own ``messages.po`` beside it.
After changing page text, refresh both from the repository root::

    pybabel extract -F services/web/babel.cfg -o services/web/locale/messages.pot .
    pybabel update -i services/web/locale/messages.pot -d services/web/locale
"""
from __future__ import annotations

import io
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

HERE = Path(__file__).resolve().parent
DEFAULT_LOCALE = "en_AU"
DEFAULT_TIME_ZONE = "Australia/Sydney"


def N_(text: str) -> str:
    """Marks a label kept in Python for the catalog; templates translate it where it is shown (``_(label)``)."""
    return text


@lru_cache(maxsize=4)
def translations(locale: str = DEFAULT_LOCALE) -> NullTranslations:
    """The catalog for ``locale``, compiled from its .po file in memory (no build step needed)."""
    po_path = HERE / "locale" / locale / "LC_MESSAGES" / "messages.po"
    if not po_path.exists():
        return NullTranslations()
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def local_time(value: str | datetime | None, time_zone: str | None = None, fmt: str = "d MMMM yyyy 'at' h:mm a") -> str:
    """An instant shown in the reader's time zone (Canberra time by default).

    Pages call it as the ``local_time`` filter, which passes the logged-in
    member's time zone; the ``datetime`` attribute beside it keeps the UTC instant.
    """
    if not value:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return format_datetime(moment.astimezone(zone(time_zone)), fmt, locale=DEFAULT_LOCALE)


def zone(name: str | None) -> ZoneInfo:
    """The named IANA time zone, or Canberra time when the name is empty or unknown."""
    try:
        return ZoneInfo(name or DEFAULT_TIME_ZONE)
    except (ValueError, KeyError, OSError):
        return ZoneInfo(DEFAULT_TIME_ZONE)
