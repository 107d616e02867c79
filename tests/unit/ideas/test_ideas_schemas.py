"""Request schemas: values are typed before they reach a rule or a query."""
import pytest

from services.common.errors import ValidationFailed
from services.common.http import load
from services.ideas import schemas


@pytest.mark.parametrize("stars", [0, 6, "5", 4.5, 5.0, {"$gt": 0}, True, None, [5]])
def test_stars_must_be_a_whole_number_from_1_to_5(stars):
    with pytest.raises(ValidationFailed) as refused:
        load(schemas.Rating(), {"stars": stars})
    assert list(refused.value.fields) == ["stars"]


def test_good_stars_load():
    assert load(schemas.Rating(), {"stars": 4}) == {"stars": 4}


def test_an_idea_needs_a_title_of_at_most_200_characters_and_a_description():
    with pytest.raises(ValidationFailed) as refused:
        load(schemas.IdeaSubmission(), {"title": "x" * 201, "description": "  ", "colour": "red"})
    assert set(refused.value.fields) == {"title", "description", "colour"}


def test_list_queries_refuse_operators_in_place_of_values():
    with pytest.raises(ValidationFailed) as refused:
        load(schemas.ListQuery(), {"state": {"$ne": "draft"}, "limit": 500})
    assert set(refused.value.fields) == {"state", "limit"}
