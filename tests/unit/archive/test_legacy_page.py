import re
from dataclasses import FrozenInstanceError
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from services.archive.legacy_page import (
    LegacyComment,
    LegacyIdea,
    LegacyPageError,
    parse_legacy_page,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "legacy_pages"
READABLE = [
    "full_page.txt",
    "twelve_hour_times.txt",
    "loose_layout.txt",
    "no_look_like_section.txt",
]


def page(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def comment_summary(idea: LegacyIdea) -> list[tuple[str, str, str]]:
    return [(c.author, c.posted_at.isoformat(), c.body) for c in idea.comments]


def test_full_page():
    idea = parse_legacy_page(page("full_page.txt"))
    # The first line is the site header, not the title.
    assert idea.title == "Shared Register of Community Panels"
    assert idea.description == (
        "A single register, kept across agencies, of the community panels and citizen "
        "juries each agency has run, so that a team planning a new panel can learn from "
        "the ones before it.\n\n"
        "Each entry would record who was invited, how members were chosen, what they "
        "were asked and what changed because of their advice."
    )
    assert idea.tags == ["panels", "registers"]
    assert idea.what_it_might_look_like == (
        "A searchable list on the network's site, with a one-page summary for every "
        "panel and the name of someone who helped run it."
    )
    assert idea.why_it_matters == (
        "Agencies keep re-learning how to recruit and support a panel. A shared record "
        "saves money, avoids repeated mistakes and shows participants that their time "
        "was put to use."
    )
    assert idea.prompts == [
        "What works here?",
        "What is missing?",
        "Who should look after the register?",
        "Should entries be reviewed (yearly?) by the agency that ran the panel, or by the network?",
    ]
    assert idea.author == "PolicyLab"
    assert idea.posted_at.isoformat() == "2019-02-12T09:40:00+11:00"
    assert idea.posted_at.utcoffset() == timedelta(hours=11)
    assert idea.rating_average == 3.6
    assert idea.rating_count == 7
    assert comment_summary(idea) == [
        (
            "Marguerite",
            "2019-02-12T15:02:00+11:00",
            "Useful. We ran two panels last year and had nowhere to put what we learned.",
        ),
        (
            "Dev Patel",
            "2019-02-14T08:30:00+11:00",
            "Privacy needs thought: panel members were promised their names would stay "
            "private.\n\nA summary without names would still be worth having.",
        ),
        (
            "sam_k",
            "2019-03-31T22:10:00+11:00",
            "Could each entry link to the final report where it is public?",
        ),
        # Daylight saving ended on 7 April 2019.
        (
            "PolicyLab",
            "2019-04-10T10:05:00+10:00",
            "Thanks all. We will draft a template that leaves out personal details.",
        ),
    ]


def test_twelve_hour_comment_times():
    idea = parse_legacy_page(page("twelve_hour_times.txt"))
    assert idea.title == "Plain-language letters pilot"
    assert idea.description == (
        "Rewrite the ten letters an agency sends most often in plain language, then "
        "measure whether calls to the help line drop."
    )
    assert idea.what_it_might_look_like == (
        "Two agencies volunteer their most common letters; a small group of readers "
        "tests each draft before it is sent."
    )
    assert idea.why_it_matters == (
        "People ring when a letter confuses them. Clearer letters mean fewer calls and "
        "fewer missed deadlines."
    )
    assert idea.prompts == ["Which letter would you start with?"]
    assert idea.tags == []
    assert idea.author == "Ngaire"
    # Daylight saving started on 6 October 2019.
    assert idea.posted_at == at("2019-10-08T16:20:00+11:00")
    assert idea.posted_at.utcoffset() == timedelta(hours=11)
    assert idea.rating_average == 5.0
    assert idea.rating_count == 1
    assert comment_summary(idea) == [
        ("Tom W", "2019-10-09T00:10:00+11:00", "Debt notices, without a doubt."),
        ("Ali", "2019-10-09T12:45:00+11:00", "Agree with Tom. Also the renewal reminders."),
        ("Ngaire", "2019-10-10T15:05:00+11:00", "Noted, both are on the list."),
    ]


def test_loose_layout_without_bullets_and_with_extra_blank_lines():
    idea = parse_legacy_page(page("loose_layout.txt"))
    assert idea.title == "Mentoring across agencies"
    assert idea.description == (
        "Pair staff who are new to engagement work with a mentor from another agency "
        "for six months.\n\nMentors would be volunteers; the network would make the matches."
    )
    assert idea.what_it_might_look_like == (
        "A short sign-up form, one match a quarter, and a lunchtime catch-up at the "
        "end.\n\nA shared page of questions mentees found useful."
    )
    assert idea.why_it_matters == (
        "Skills stay inside one agency today. Mentoring spreads them cheaply."
    )
    assert idea.prompts == ["How often should pairs meet?", "Should mentors get training first?"]
    assert idea.tags == []
    assert idea.author == "Helen O'Brien"
    assert idea.posted_at.isoformat() == "2020-06-03T11:15:00+10:00"
    assert idea.rating_average == 4.0
    assert idea.rating_count == 3
    assert comment_summary(idea) == [
        ("Raj", "2020-06-03T13:20:00+10:00", "I would sign up as a mentor."),
        (
            "Claire Nguyen",
            "2020-06-17T09:05:00+10:00",
            "Monthly feels right to me.\n\nTraining could be one short session.",
        ),
    ]


def test_page_without_what_it_might_look_like():
    idea = parse_legacy_page(page("no_look_like_section.txt"))
    assert idea.title == "Open data on consultation turnout"
    assert idea.description == (
        "Publish, for every public consultation, how many submissions arrived and "
        "through which channel."
    )
    assert idea.what_it_might_look_like == ""
    assert idea.why_it_matters == (
        "Without turnout figures nobody can tell which channels reach people and which do not."
    )
    assert idea.prompts == []
    assert idea.tags == []
    assert idea.author == "DataDesk"
    assert idea.posted_at.isoformat() == "2017-12-01T10:00:00+11:00"
    assert idea.rating_average is None
    assert idea.rating_count == 0
    assert comment_summary(idea) == [
        (
            "Kim",
            "2017-12-04T09:12:00+11:00",
            "Channel numbers alone could mislead. Add a note on how each consultation "
            "was promoted.",
        ),
        ("DataDesk", "2017-12-05T17:45:00+11:00", "Good point, we will add that."),
    ]


def test_page_cut_inside_the_rating_block_names_the_line():
    text = page("truncated_rating.txt")
    assert len(text.splitlines()) == 15
    with pytest.raises(LegacyPageError) as caught:
        parse_legacy_page(text)
    error = caught.value
    assert error.line == 16
    assert error.found == "end of file"
    assert str(error) == (
        'line 16: expected "Based on: N votes" after "Average rating", found end of file'
    )


def test_page_cut_before_the_author_line_names_the_line():
    text = page("truncated_before_author.txt")
    assert len(text.splitlines()) == 12
    with pytest.raises(LegacyPageError) as caught:
        parse_legacy_page(text)
    assert caught.value.line == 13
    assert "author line" in caught.value.expected
    assert str(caught.value).startswith("line 13: expected the author line")
    assert str(caught.value).endswith("found end of file")


@pytest.mark.parametrize("name", READABLE)
def test_windows_line_endings_tabs_and_bullets_do_not_change_the_result(name):
    text = page(name)
    reformatted = "\r\n".join(
        line.replace("• Posted by", "* Posted by").replace("  ", "\t")
        for line in text.split("\n")
    )
    assert parse_legacy_page(reformatted) == parse_legacy_page(text)


@pytest.mark.parametrize("name", READABLE)
def test_fingerprint_is_stable_across_layouts(name):
    idea = parse_legacy_page(page(name))
    fingerprint = idea.fingerprint()
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint), fingerprint
    reflowed = page(name).replace("\n", "\r\n\r\n").replace("• ", "")
    assert parse_legacy_page(reflowed).fingerprint() == fingerprint


def test_fingerprint_tells_pages_and_comments_apart():
    full = parse_legacy_page(page("full_page.txt"))
    other = parse_legacy_page(page("twelve_hour_times.txt"))
    assert full.fingerprint() != other.fingerprint()
    fewer = parse_legacy_page(page("full_page.txt").split("  • Posted by PolicyLab April")[0])
    assert len(fewer.comments) == 3
    assert fewer.fingerprint() != full.fingerprint()
    # Comment order does not matter.
    reordered = LegacyIdea(**{**full.__dict__, "comments": list(reversed(full.comments))})
    assert reordered.fingerprint() == full.fingerprint()


def test_result_is_frozen():
    idea = parse_legacy_page(page("full_page.txt"))
    with pytest.raises(FrozenInstanceError):
        idea.title = "changed"  # type: ignore[misc]
    assert isinstance(idea.comments[0], LegacyComment)
    with pytest.raises(FrozenInstanceError):
        idea.comments[0].body = "changed"  # type: ignore[misc]


MINIMAL = "A title\n\nby Someone on March 3, 2021 at 9:05AM\n"


def test_title_and_author_line_are_enough():
    idea = parse_legacy_page(MINIMAL)
    assert idea.title == "A title"
    assert idea.description == ""
    assert idea.author == "Someone"
    assert idea.posted_at.isoformat() == "2021-03-03T09:05:00+11:00"
    assert (idea.rating_average, idea.rating_count, idea.comments) == (None, 0, [])


def test_look_like_text_on_following_lines_and_single_word_tags():
    idea = parse_legacy_page(
        "Idea\n\nSome description here.\n\ncodesign\n\n"
        "What it might look like:\nLine one\nline two\n\n"
        "by X on Jan 5, 2022 at 23:59\n"
    )
    assert idea.tags == ["codesign"]
    assert idea.description == "Some description here."
    assert idea.what_it_might_look_like == "Line one\nline two"
    assert idea.posted_at.isoformat() == "2022-01-05T23:59:00+11:00"


def test_a_lower_case_sentence_is_not_taken_for_tags():
    idea = parse_legacy_page(
        "Idea\n\nFirst paragraph.\n\nmore to come\n\nby X on Jan 5, 2022 at 10:00AM\n"
    )
    assert idea.tags == []
    assert idea.description == "First paragraph.\n\nmore to come"


def test_only_a_tag_line_stays_description():
    idea = parse_legacy_page("Idea\n\ncodesign youth\n\nby X on Jan 5, 2022 at 10:00AM\n")
    assert idea.tags == []
    assert idea.description == "codesign youth"


def test_rating_of_no_votes_has_no_average():
    idea = parse_legacy_page(MINIMAL + "Current Rating\nAverage rating: 0\nBased on: 0 votes\n")
    assert (idea.rating_average, idea.rating_count) == (None, 0)


@pytest.mark.parametrize(
    "tail, line, expected",
    [
        ("Current Rating\n", 5, '"Average rating: X.Y" after "Current Rating"'),
        ("Current Rating\nAverage rating: 3.5\n", 6, '"Based on: N votes" after "Average rating"'),
        (
            "Average rating: 3.5\nBased on: many votes\n",
            5,
            '"Based on: N votes" after "Average rating"',
        ),
        ("Average rating: 7\nBased on: 2 votes\n", 4, "an average rating from 0 to 5"),
        ("• Posted by Ann March 4, 2021 at\n", 4, 'a comment header "Posted by'),
        ("• Posted by Ann March 4, 2021 at 10:00\n", 5, "the text of the comment on line 4"),
        ("Stray text\n", 4, "or the end of the page"),
        ("Posted by Ann February 30, 2021 at 10:00\nHi\n", 4, "a real date and time"),
        ("Posted by Ann March 4, 2021 at 13:00PM\nHi\n", 4, "a real date and time"),
    ],
)
def test_broken_tails_are_refused_with_their_line(tail, line, expected):
    # MINIMAL is three lines long, so the tail starts on line 4.
    with pytest.raises(LegacyPageError) as caught:
        parse_legacy_page(MINIMAL + tail)
    assert caught.value.line == line
    assert expected in caught.value.expected


def test_empty_page_has_no_title():
    with pytest.raises(LegacyPageError) as caught:
        parse_legacy_page(" \n\n")
    assert (caught.value.line, caught.value.expected) == (1, "the idea's title")


def test_page_starting_with_a_section_has_no_title():
    with pytest.raises(LegacyPageError) as caught:
        parse_legacy_page("What it might look like: x\n\nby X on Jan 5, 2022 at 10:00AM\n")
    assert (caught.value.line, caught.value.expected) == (1, "the idea's title")


def test_damaged_author_line_is_reported_where_it_is():
    with pytest.raises(LegacyPageError) as caught:
        parse_legacy_page("Idea\n\nText.\n\nby X on Jan 5, 2022 at 10\n")
    assert caught.value.line == 5
    assert "author line" in caught.value.expected


def test_comments_without_an_author_line_are_refused():
    with pytest.raises(LegacyPageError) as caught:
        parse_legacy_page("Idea\n\nText.\n\nPosted by Ann March 4, 2021 at 10:00\nHi\n")
    assert caught.value.line == 5
    assert "author line" in caught.value.expected


def test_ambiguous_time_at_the_end_of_daylight_saving_is_the_first_one():
    idea = parse_legacy_page("Idea\n\nby X on April 7, 2019 at 02:30AM\n")
    assert idea.posted_at.utcoffset() == timedelta(hours=11)
