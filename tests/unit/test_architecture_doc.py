"""docs/architecture.md walks a rating through named files and functions: each must exist as named."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "architecture.md").read_text()


def test_every_file_the_walk_names_exists():
    named = set(re.findall(r"`((?:services|tools|deploy|tests)/[\w/.<>*-]+)`", DOC))
    concrete = {path for path in named if "<" not in path and "*" not in path}
    assert len(concrete) > 15
    assert sorted(path for path in concrete if not (ROOT / path).exists()) == []


def test_every_function_the_walk_names_is_defined_where_it_says():
    places = {
        "services/web/ideas_routes.py": ["rate_form", "api_rate"],
        "services/ideas/service.py": ["rate"],
        "services/ideas/domain.py": ["may_view", "check_can_rate", "rating_change", "rating_summary"],
        "services/notify/service.py": ["on_ideas_event"],
        "services/notify/fanout.py": ["handle"],
        "services/common/errors.py": ["refusal"],
    }
    for path, functions in places.items():
        source = (ROOT / path).read_text()
        for function in functions:
            assert f"`{function}`" in DOC or f"{function}," in DOC or f".{function}" in DOC, function
            assert re.search(rf"def {function}\(", source), f"{function} is not defined in {path}"
