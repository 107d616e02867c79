"""A broken domain rule reaches the caller as the kit's error: its kind picks the status, its field names the input."""
import pytest

from services.common.errors import Conflict, Forbidden, ValidationFailed, refusal
from services.common.rules import RuleBroken


@pytest.mark.parametrize("kind, error_class, status", [
    ("forbidden", Forbidden, 403), ("conflict", Conflict, 409), ("invalid", ValidationFailed, 422),
])
def test_the_kind_of_refusal_picks_the_error_and_its_status(kind, error_class, status):
    error = refusal(RuleBroken("No.", field="stars", kind=kind))
    assert type(error) is error_class and error.status == status
    assert error.message == "No." and error.fields == {"stars": ["No."]}


def test_a_refusal_that_names_no_field_carries_no_fields():
    assert refusal(RuleBroken("Only the idea's author edits it.", kind="forbidden")).fields == {}


def test_field_and_kind_are_named_so_they_cannot_be_swapped():
    with pytest.raises(TypeError):
        RuleBroken("No.", "stars", "forbidden")
