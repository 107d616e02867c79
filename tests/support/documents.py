"""Checks shared by the tests of the published API descriptions (OpenAPI, AsyncAPI)."""
from __future__ import annotations

from typing import Iterator


def references(node) -> Iterator[str]:
    """Every ``$ref`` value anywhere in a JSON or YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def dangling_references(document: dict) -> list[str]:
    """The local ``$ref``s (``#/a/b``) that point at nothing in ``document``."""
    dangling = []
    for ref in references(document):
        target = document
        for part in ref.removeprefix("#/").split("/"):
            if not isinstance(target, dict) or part not in target:
                dangling.append(ref)
                break
            target = target[part]
    return dangling
