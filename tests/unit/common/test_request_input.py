"""The kit's request checks: what a JSON body, a query value or a schema field may hold, and what each refusal names."""
import json

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from services.common.contract.fields import Strict, Text, Title, is_blank, value_problems
from services.common.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from services.common.http import MAX_BODY_BYTES, parse_json, read_json, whole_number_or_text
from services.common.http import load


def request_with(body: bytes, content_type: str | None = "application/json") -> Request:
    headers = {"Content-Type": content_type} if content_type else {}
    return Request(EnvironBuilder(method="POST", data=body, headers=headers).get_environ())


def refusal(raw: bytes):
    with pytest.raises((BadRequest, ValidationFailed)) as refused:
        parse_json(raw)
    return refused.value


def test_a_lone_surrogate_in_a_nested_string_is_refused_naming_its_place():
    error = refusal(b'{"idea": {"prompts": ["fine", "\\ud800"]}}')
    assert error.status == 422 and list(error.fields) == ["idea.prompts.1"]
    assert "surrogate" in error.fields["idea.prompts.1"][0]


def test_a_nul_character_is_refused_naming_the_field():
    error = refusal(b'{"body": "before\\u0000after"}')
    assert error.status == 422 and error.fields == {"body": ["must not contain NUL characters"]}


def test_a_key_holding_a_lone_surrogate_is_named_with_an_escape_that_can_be_sent():
    error = refusal(b'{"\\udc80": 1}')
    [name] = error.fields
    assert name == "\\udc80" and "its name" in error.fields[name][0]
    json.dumps(error.to_body(), ensure_ascii=False).encode("utf-8")  # the answer itself can be sent


def test_a_key_given_twice_in_one_object_is_refused_naming_the_key():
    error = refusal(b'{"stars": 1, "stars": 5}')
    assert error.status == 422 and "stars" in error.fields and "more than once" in error.message


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_not_json(literal):
    error = refusal(b'{"stars": ' + literal + b"}")
    assert error.status == 400 and "not a JSON number" in error.message


@pytest.mark.parametrize("number, problem", [(b"1e400", "finite"), (b"-1e400", "finite"),
                                             (str(10 ** 30).encode(), "out of range"),
                                             (str(-(2 ** 63) - 1).encode(), "out of range")])
def test_numbers_storage_cannot_hold_are_refused_naming_the_field(number, problem):
    error = refusal(b'{"stars": ' + number + b"}")
    assert error.status == 422 and list(error.fields) == ["stars"] and problem in error.fields["stars"][0]


def test_the_largest_64_bit_integers_still_pass():
    assert parse_json(str(2 ** 63 - 1).encode()) == 2 ** 63 - 1


@pytest.mark.parametrize("levels", [40, 999, 10_000, 200_000])
def test_deep_nesting_is_a_422_at_any_depth_and_never_a_recursion_error(levels):
    error = refusal(b"[" * levels + b"]" * levels)
    assert error.status == 422 and error.fields == {"_schema": ["nested too deeply"]}


def test_a_body_that_is_not_utf8_or_not_json_is_a_400():
    assert refusal(b'{"title": "\xed\xa0\x80"}').status == 400  # a surrogate written as raw bytes
    assert refusal(b"{title: nope").status == 400


def test_a_body_sent_as_another_media_type_is_a_415_naming_the_header():
    for content_type in ("text/html", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded",
                         "text/plain"):
        with pytest.raises(UnsupportedMediaType) as refused:
            read_json(request_with(b'{"title": "T"}', content_type))
        assert refused.value.status == 415 and "Content-Type" in refused.value.fields


def test_json_types_and_a_missing_content_type_are_read_as_json():
    for content_type in ("application/json", "application/json; charset=utf-8", "application/merge-patch+json", None):
        assert read_json(request_with(b'{"title": "T"}', content_type)) == {"title": "T"}


def test_an_empty_body_is_null_whatever_its_declared_type():
    assert read_json(request_with(b"", "application/x-www-form-urlencoded")) is None


def test_a_declared_length_over_the_limit_is_a_413_before_reading():
    with pytest.raises(PayloadTooLarge):
        read_json(request_with(b"[" + b"1," * (MAX_BODY_BYTES // 2) + b"1]"))


@pytest.mark.parametrize("raw, expected", [("12", 12), ("007", 7), ("²", "²"), ("١٢", "١٢"), ("-3", "-3"),
                                           ("", ""), ("9" * 101, "9" * 101)])
def test_query_and_form_numbers_are_ints_only_when_written_in_ascii_digits(raw, expected):
    assert whole_number_or_text(raw) == expected


class Submission(Strict):
    title = Title(required=True)
    body = Text(blank=False)
    note = Text(max_length=10)


@pytest.mark.parametrize("title", ["", "   ", "\u200b", "\u200b\u200c\u200d", " \u2060\ufeff ", "\t\n"])
def test_a_title_of_nothing_visible_is_refused(title):
    with pytest.raises(ValidationFailed) as refused:
        load(Submission(), {"title": title, "body": "B"})
    assert list(refused.value.fields) == ["title"]


def test_text_is_trimmed_and_held_to_its_length():
    assert load(Submission(), {"title": "  A title ", "body": " B "}) == {"title": "A title", "body": "B"}
    with pytest.raises(ValidationFailed) as refused:
        load(Submission(), {"title": "x" * 201, "body": "\u200b", "note": "x" * 11})
    assert set(refused.value.fields) == {"title", "body", "note"}
    assert load(Submission(), {"title": "x" * 200, "body": "B"})["title"] == "x" * 200


def test_a_schema_refuses_what_storage_cannot_hold_when_called_past_http():
    """RPC callers and page forms reach the schema without ``read_json``; it checks the same things."""
    with pytest.raises(ValidationFailed) as refused:
        load(Submission(), {"title": "T\ud800", "body": "a\x00b", "note": float("inf")})
    assert set(refused.value.fields) == {"title", "body", "note"}


def test_visible_text_with_zero_width_characters_inside_is_not_blank():
    assert not is_blank("a\u200bb") and not is_blank("𝕏") and is_blank("\u00a0\u3000\u200b")


def test_ordinary_values_have_no_problems():
    assert value_problems({"title": "Kōrero 🌏", "stars": 5, "ratio": 0.5, "tags": ["a"], "none": None,
                           "flag": True}) == {}
