"""Mention markup read once for every service: the parts a page renders, links only to members it was told of."""
from services.common import mentions

ROSA, TARIQ = "m-rosa", "m-tariq"
KNOWN = {"rosa nguyen": ROSA, "tariq haddad": TARIQ}


def test_a_bracketed_mention_of_a_known_member_becomes_a_link_part_without_brackets():
    assert mentions.parts("Thanks @[Rosa Nguyen], agreed.", KNOWN) == [
        {"text": "Thanks "}, {"text": "@Rosa Nguyen", "member_id": ROSA}, {"text": ", agreed."}]


def test_names_are_matched_without_regard_to_case_accents_or_spaces_and_underscores_read_as_spaces():
    assert mentions.parts("@[rosa  NGUYËN] and @Tariq_Haddad", {**KNOWN, "rosa nguyen": ROSA}) == [
        {"text": "@rosa  NGUYËN", "member_id": ROSA}, {"text": " and "},
        {"text": "@Tariq Haddad", "member_id": TARIQ}]


def test_a_mention_of_nobody_known_stays_plain_text_and_joins_the_text_around_it():
    assert mentions.parts("Ask @[Someone Else] or me", KNOWN) == [{"text": "Ask @Someone Else or me"}]


def test_markup_in_a_name_is_kept_as_text_for_the_page_to_escape():
    found = mentions.parts("@[<b>Rosa</b>] hi", {"<b>rosa</b>": ROSA})
    assert found == [{"text": "@<b>Rosa</b>", "member_id": ROSA}, {"text": " hi"}]


def test_an_email_address_is_not_a_mention():
    assert mentions.parts("write to rosa@dta.gov.au", KNOWN) == [{"text": "write to rosa@dta.gov.au"}]


def test_paragraphs_are_the_non_blank_lines_each_as_parts():
    assert mentions.paragraphs("First @[Rosa Nguyen]\n\n  \nSecond", KNOWN) == [
        [{"text": "First "}, {"text": "@Rosa Nguyen", "member_id": ROSA}], [{"text": "Second"}]]


def test_mentioned_names_are_each_name_once_in_order():
    assert mentions.mentioned_names("@[Tariq Haddad] @Rosa_Nguyen @[tariq haddad]") == ["tariq haddad", "rosa nguyen"]
