"""Every page string is in the en-AU catalog, so translators see all of them and none are left behind."""
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[3]
WEB = ROOT / "services" / "web"


def extracted_ids() -> set[str]:
    with (WEB / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    ids = set()
    for _path, _line, message, _comments, _context in extract_from_dir(str(ROOT), method_map, options_map):
        ids.add(message[0] if isinstance(message, tuple) else message)
    return ids


def test_the_en_au_catalog_holds_every_string_the_pages_and_routes_mark_for_translation():
    with (WEB / "locale" / "en_AU" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="en_AU")
    in_catalog = {message.id[0] if isinstance(message.id, tuple) else message.id for message in catalog if message.id}
    missing = sorted(extracted_ids() - in_catalog)
    assert not missing, "run the pybabel extract and update commands in services/web/i18n.py; missing: " + repr(missing[:10])
