"""Demonstration ideas shaped like a consultation page: sections, prompts, ratings and threaded comments.

``seed(api)`` is called by ``engage seed-demo`` after the demo agencies and
members exist. ``api`` is the demo's gateway client (``services.demo.DemoClient``):
``api.call(method, path, as_member=email, json=...)`` returns a
``requests.Response``, logged in as that demo member. Everything goes through
the public API. Running it again adds nothing: an idea whose title is already
listed is skipped with its ratings and comments.
"""
from __future__ import annotations

APSC_ROSA = "rosa.nguyen@apsc.example.gov.au"
DTA_TARIQ = "tariq.haddad@dta.example.gov.au"
HEALTH_GRACE = "grace.okafor@health.example.gov.au"
JILL = "jill.moreton@apsc.example.gov.au"
SAM = "sam.whitfield@dta.example.gov.au"
MEI = "mei.chen@health.example.gov.au"
OLIVER = "oliver.brandt@apsc.example.gov.au"

# Each comment is (author, body, replies); replies nest the same way, at most three levels deep.
IDEAS = [
    {
        "author": APSC_ROSA,
        "idea": {
            "title": "A service-wide network for engagement practitioners",
            "description": "Public servants who run consultations, co-design sessions and citizen panels rarely "
                           "hear about each other's work. A standing network would let them share methods, "
                           "lessons learned and the occasional failure, and grow engagement skills together.",
            "what_it_might_look_like": "Meetings in person every quarter, hosted by a different agency each time, "
                                       "with an online space in between for questions, templates and write-ups.",
            "why_it_matters": "Plenty of good engagement already happens, but it stays inside the team that did "
                              "it. Sharing it saves others from starting from scratch and lifts the standard "
                              "everywhere.",
            "prompts": ["Would you and your colleagues take part, or is time the barrier?",
                        "How could the network keep its energy after an enthusiastic first year?"],
            "tags": ["networks", "capability", "engagement"],
        },
        "ratings": {JILL: 3, SAM: 2, MEI: 4, OLIVER: 2, DTA_TARIQ: 3},
        "comments": [
            (JILL, "Sound in principle. The catch is turnover: people change roles often, so the network "
                   "would need to survive its founders moving on.",
             [(APSC_ROSA, "Agreed. Rotating the hosting role between agencies might spread the ownership.",
               [(JILL, "That would help, especially if each host writes up what they learned.", [])])]),
            (DTA_TARIQ, "Buy-in is the hard part. A short yearly briefing for senior leaders could earn "
                        "the support that keeps it alive.", []),
            (MEI, "Another angle: early-career staff often have the energy to build networks and carry the "
                  "habit of sharing with them for decades. @[Rosa Nguyen] could the network court them "
                  "deliberately?", []),
            (OLIVER, "Better than another award ceremony. An online place to go for ideas would be the part "
                     "I would use most.", []),
        ],
    },
    {
        "author": DTA_TARIQ,
        "idea": {
            "title": "Plain-language summaries for every public consultation",
            "description": "Every consultation paper would open with a one-page summary in plain language: what "
                           "is being decided, what is already settled and how a response will be used.",
            "what_it_might_look_like": "A short template with four headings, checked by someone outside the "
                                       "policy team before publication.",
            "why_it_matters": "People give up on long papers. A clear summary invites more, and more varied, "
                              "responses.",
            "prompts": ["Which consultations would have benefited most?", "Who should check the summaries?"],
            "tags": ["plain-language", "consultation"],
        },
        "ratings": {APSC_ROSA: 5, JILL: 4, MEI: 5, OLIVER: 4},
        "comments": [
            (APSC_ROSA, "Yes please. Saying what is already settled is the part most papers leave out.",
             [(DTA_TARIQ, "That was exactly the complaint we heard most in our last round.", [])]),
            (SAM, "Could the template also say when people will hear back?", []),
        ],
    },
    {
        "author": HEALTH_GRACE,
        "idea": {
            "title": "Pay community organisations for their time in co-design",
            "description": "When community organisations help design a program, their staff give hours they are "
                           "not funded for. Agencies would offer a standard sitting fee for co-design work.",
            "what_it_might_look_like": "A published rate per session, paid within 20 days, with a simple form.",
            "why_it_matters": "Unpaid participation favours the organisations that can afford it and leaves "
                              "smaller groups out of the room.",
            "prompts": ["What rate would be fair?", "Are there risks to independence if we pay?"],
            "tags": ["partnerships", "co-design"],
        },
        "ratings": {MEI: 5, JILL: 4, SAM: 3},
        "comments": [
            (MEI, "Smaller groups in our region have told us this directly. It would change who turns up.", []),
        ],
    },
]


def seed(api) -> None:
    """Create the demonstration ideas with their ratings and threaded comments, skipping titles already listed."""
    listed = api.call("GET", "/api/v1/ideas", params={"limit": 100})
    listed.raise_for_status()
    existing = {idea["title"] for idea in listed.json()["items"]}
    for story in IDEAS:
        if story["idea"]["title"] in existing:
            continue
        created = api.call("POST", "/api/v1/ideas", as_member=story["author"], json=story["idea"])
        created.raise_for_status()
        idea_id = created.json()["id"]
        for email, stars in story["ratings"].items():
            api.call("PUT", f"/api/v1/ideas/{idea_id}/rating", as_member=email, json={"stars": stars}).raise_for_status()
        for comment in story["comments"]:
            _post(api, idea_id, comment, None)


def _post(api, idea_id: str, comment: tuple, parent_id: str | None) -> None:
    email, body, replies = comment
    payload = {"body": body, **({"parent_id": parent_id} if parent_id else {})}
    answer = api.call("POST", f"/api/v1/ideas/{idea_id}/comments", as_member=email, json=payload)
    answer.raise_for_status()
    for reply in replies:
        _post(api, idea_id, reply, answer.json()["id"])
