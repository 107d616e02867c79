"""What is wrong with a submitted form, in words a person reads, each problem tied to the field it is about.

Services refuse a request with a message and the fields at fault, named by
their request ids (``body``, ``event_types``) with terse problems ("Longer
than maximum length 20000."). A page shows each problem twice, as the GOV.UK
and Australian Government design systems do: in a summary at the top that
links to the field, and beside the field itself (``templates/_form.html``).
How messages name each form's fields is written here, in ``FORMS``, and
nowhere else; a field id never reaches a person.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from services.common.contract.api.notify import KINDS
from services.common.errors import DomainError


@dataclass(frozen=True)
class Field:
    """How messages name a field: ``noun`` as in "Enter your comment"; for a list, ``items`` names what it holds."""

    noun: str
    items: str | None = None


FORMS: dict[str, dict[str, Field]] = {
    "register": {"display_name": Field("your name"), "email": Field("your work email address"),
                 "password": Field("your password"), "agency": Field("your agency")},
    "log_in": {"email": Field("your email address"), "password": Field("your password")},
    "forgotten_password": {"email": Field("your email address")},
    "new_password": {"password": Field("your new password")},
    "api_key": {"name": Field("what the key is for"), "scopes": Field("the scopes", items="scopes")},
    "network": {"name": Field("the network's name"), "description": Field("what the network is for"),
                "closed": Field("whether the network is closed")},
    "network_membership": {},
    "join_request": {},
    "network_admin": {},
    "guest_invitation": {"email": Field("the guest's email address")},
    "webhook": {"url": Field("the address that receives the events"), "description": Field("what it is for"),
                "event_types": Field("the events to send", items="events")},
    "roles": {"roles": Field("the roles", items="roles")},
    "member_search": {"q": Field("the words to find"), "page": Field("the page number"),
                      "limit": Field("the number of members per page")},
    "idea": {"title": Field("the title"), "description": Field("the description of the idea"),
             "what_it_might_look_like": Field("what it might look like"), "why_it_matters": Field("why it matters"),
             "prompts": Field("the questions for discussion", items="questions"),
             "tags": Field("the tags", items="tags"), "network": Field("the network of practice")},
    "ideas_filter": {"state": Field("the state"), "tag": Field("the tag"), "agency": Field("the agency"),
                     "sort": Field("the order"), "limit": Field("the number of ideas per page")},
    "comment": {"body": Field("your comment")},
    "follow": {},
    "report": {"reason": Field("what is wrong with the comment")},
    "rating": {"stars": Field("your rating")},
    "state": {"state": Field("the new state"), "official_response": Field("the official response")},
    "moderation": {"note": Field("the note for the record")},
    "resource": {"kind": Field("the kind of resource"), "title": Field("the title"), "summary": Field("the summary"),
                 "body": Field("the body of the resource"), "link": Field("the link"), "licence": Field("the licence"),
                 "attribution": Field("the attribution"), "tags": Field("the tags", items="tags"),
                 "related_ideas": Field("the archived ideas it draws on", items="archived ideas"),
                 "note": Field("the note")},
    "revisions": {"from": Field("the revision to compare from"), "to": Field("the revision to compare to"),
                  "revision": Field("the revision")},
    "review": {"note": Field("the note to the proposer")},
    "search": {"q": Field("the words to find"), "kind": Field("the kind of result"), "state": Field("the state"),
               "agency": Field("the agency"), "network": Field("the network"), "limit": Field("the number of results"),
               "cursor": Field("the page of results")},
    "preferences": {**{kind: Field(f"how you hear of “{label.lower()}”") for kind, label in KINDS.items()},
                    "follow_when_taking_part": Field("whether you follow what you take part in")},
}

# marshmallow's own wording, and the contract's blank check, said as a person would ask.
_STOCK: list[tuple[re.Pattern, str]] = [(re.compile(pattern), words) for pattern, words in (
    (r"Missing data for required field\.|Field may not be null\.|must not be blank.*|Shorter than minimum length 1\.",
     "Enter {noun}."),
    (r"(?:Longer than maximum length |Length must be between [01] and )(?P<n>\d+)\.",
     "{Noun} must be {n} characters or fewer."),
    (r"Shorter than minimum length (?P<n>\d+)\.", "{Noun} must be at least {n} characters."),
    (r"Length must be between (?P<lo>\d+) and (?P<n>\d+)\.", "{Noun} must be {lo} to {n} characters."),
    (r"Not a valid email address\.", "Enter {noun} in the correct format, like name@agency.gov.au."),
    (r"Not a valid URL\.", "Enter {noun} in the correct format, like https://example.gov.au/."),
    (r"Must be one of: .*|Not a valid choice\.", "Choose {noun} from the list."),
    (r"Must be (?:greater|less) than .*", "{Noun} is out of range."),
    (r"Not a valid \w+\.|Invalid value\.|String does not match expected pattern\.", "{Noun} is not valid."),
)]
# The same for a list: its length is how many items it holds.
_STOCK_FOR_LISTS: list[tuple[re.Pattern, str]] = [(re.compile(pattern), words) for pattern, words in (
    (r"Missing data for required field\.|Shorter than minimum length 1\.", "Choose at least one of {noun}."),
    (r"Longer than maximum length (?P<n>\d+)\.", "Give at most {n} {items}."),
)]


@dataclass(frozen=True)
class Problem:
    """One thing to put right; ``field_id`` is the id of the element it is about, None for the form as a whole."""

    message: str
    field_id: str | None = None


@dataclass(frozen=True)
class FormProblems:
    """A form's problems in the order the summary lists them."""

    items: tuple[Problem, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.items)

    def __iter__(self):
        return iter(self.items)

    def of(self, field_id: str) -> str:
        """The message shown beside the element ``field_id`` ("" when it has none)."""
        return " ".join(problem.message for problem in self.items if problem.field_id == field_id)


NO_PROBLEMS = FormProblems()


def form_problems(error: DomainError, form: str, field_ids: dict[str, str] | None = None) -> FormProblems:
    """``error`` as the problems of ``form`` (a key of ``FORMS``).

    A field the form shows gets its problem in plain words, linked to its
    element: ``f-<field>`` unless ``field_ids`` names another. A field the form
    does not show keeps only what a rule said in a whole sentence; when nothing
    is left, the error's own message speaks for the whole form.
    """
    shown = FORMS[form]
    problems: list[Problem] = []
    for name, messages in error.fields.items():
        field_name, _, item = name.partition(".")
        if field_name in shown:
            words = " ".join(plain_words(shown[field_name], message, item) for message in messages)
            problems.append(Problem(words, (field_ids or {}).get(field_name, f"f-{field_name}")))
        else:
            problems.extend(Problem(message) for message in messages if _is_sentence(message))
    return FormProblems(tuple(problems) or (Problem(error.message),))


def plain_words(field: Field, message: str, item: str = "") -> str:
    """A service's problem with ``field`` (a stock phrase, a fragment such as "must be from 1 to 5", or a
    rule's whole sentence) as a sentence that names the field as a person would."""
    noun = f"{field.noun} (number {int(item) + 1})" if item.isdigit() else field.noun
    stock = _STOCK_FOR_LISTS + _STOCK if field.items and not item else _STOCK
    for pattern, words in stock:
        found = pattern.fullmatch(message.strip())
        if found:
            numbers = {key: f"{int(value):,}" for key, value in found.groupdict().items()}
            return words.format(noun=noun, Noun=_capitalised(noun), items=field.items, **numbers)
    if _is_sentence(message):
        return message
    joiner = " " if message.split(" ", 1)[0] in ("must", "is", "has", "may", "cannot") else ": "
    return f"{_capitalised(noun)}{joiner}{message.rstrip('.')}."


def _is_sentence(message: str) -> bool:
    """A rule's own sentence ("The host … is a private address; …") rather than a fragment or marshmallow's wording."""
    return message[:1].isupper() and not any(pattern.fullmatch(message.strip()) for pattern, _ in _STOCK)


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]
