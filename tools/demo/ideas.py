"""Demonstration ideas shaped like a consultation page: sections, prompts, ratings and threaded comments.

The ideas cover every state an idea can be in: one still a draft, open ones,
one under review, one adopted with an official response (the archive keeps it
and links a lesson to it), one declined and one archived. Followers, mentions
and a reported comment leave members with notifications waiting and the
moderators with a hidden comment in their queue.

``seed(api)`` is called by ``engage seed-demo`` after the demo agencies and
members exist. ``api`` is the demo's gateway client (``tools.demo.DemoClient``):
``api.call(method, path, as_member=email, json=...)`` returns a
``requests.Response``, logged in as that demo member. Everything goes through
the public API. Running it again adds nothing: an idea whose title is already
listed is skipped with its ratings and comments.
"""
from __future__ import annotations

import time

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
            "network": "engagement-practitioners",
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
            (SAM, "Networks are a waste of everyone's time and whoever proposes them should know better.", []),
        ],
        "follows": [JILL, MEI],
        # (reporter, the start of the reported comment, reason): the third report hides it for a moderator.
        "reports": [(JILL, "Networks are a waste", "This attacks people rather than the idea."),
                    (OLIVER, "Networks are a waste", "Not respectful."),
                    (MEI, "Networks are a waste", "")],
    },
    {
        "author": DTA_TARIQ,
        "idea": {
            "title": "Plain-language summaries for every public consultation",
            "network": "digital-participation",
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
        "follows": [APSC_ROSA, SAM],
        # (moderator, new state, official response): moves made after the ratings and comments.
        "moves": [(DTA_TARIQ, "under_review", ""),
                  (DTA_TARIQ, "adopted", "Adopted. From next quarter every consultation paper the agency publishes "
                                         "opens with a one-page summary, checked by a colleague outside the policy "
                                         "team. We will report back on response numbers after two rounds.")],
    },
    {
        "author": HEALTH_GRACE,
        "idea": {
            "title": "Pay community organisations for their time in co-design",
            "network": "community-partnerships",
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
        "follows": [JILL],
        "moves": [(HEALTH_GRACE, "under_review", "")],
    },
    {
        "author": SAM,
        "idea": {
            "title": "Replace the yearly engagement survey with a monthly pulse",
            "network": "engagement-practitioners",
            "description": "Instead of one long survey a year, staff would answer three questions each month about "
                           "how engagement work is going in their team.",
            "what_it_might_look_like": "Three questions in the staff newsletter, results shown on the intranet.",
            "why_it_matters": "A year is too long to wait to find out something is not working.",
            "prompts": ["Which three questions would you ask?"],
            "tags": ["evaluation", "surveys"],
        },
        "ratings": {DTA_TARIQ: 2, APSC_ROSA: 3, OLIVER: 2},
        "comments": [
            (DTA_TARIQ, "Monthly may be too often for the same people; survey fatigue is real.",
             [(SAM, "Fair. A rotating sample each month might avoid that.", [])]),
        ],
        "follows": [OLIVER],
        "moves": [(DTA_TARIQ, "declined", "Declined for now. The yearly survey is tied to the service-wide census "
                                          "and cannot move this year; we will add two engagement questions to the "
                                          "quarterly team check-in instead.")],
    },
    {
        "author": OLIVER,
        "idea": {
            "title": "A shared calendar of upcoming consultations",
            "network": "engagement-practitioners",
            "description": "One calendar listing every open and upcoming consultation across agencies, so teams "
                           "do not ask the same communities the same questions in the same month.",
            "what_it_might_look_like": "A simple list by month, with the agency, the topic and who is being asked.",
            "why_it_matters": "Communities tell us they are consulted to exhaustion by agencies that never talk "
                              "to each other.",
            "prompts": ["Who would keep the calendar up to date?"],
            "tags": ["consultation", "coordination"],
        },
        "ratings": {JILL: 4, MEI: 4},
        "comments": [
            (MEI, "The whole-of-government consultation hub now does this, so the calendar is already there.", []),
        ],
        "moves": [(APSC_ROSA, "archived", "Archived: the consultation hub now lists upcoming consultations "
                                          "across agencies, which covers what this idea asked for.")],
    },
    {
        "author": MEI,
        "draft": True,
        "idea": {
            "title": "Summaries in community languages for health consultations",
            "network": "community-partnerships",
            "description": "Health consultations that affect culturally and linguistically diverse communities "
                           "would publish their summaries in the five most used community languages.",
            "what_it_might_look_like": "Translated one-page summaries, with a phone line for spoken responses.",
            "why_it_matters": "",
            "prompts": [],
            "tags": ["translation", "health"],
        },
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
        if story.get("draft"):
            drafts = api.call("GET", "/api/v1/ideas", as_member=story["author"], params={"state": "draft", "limit": 100})
            drafts.raise_for_status()
            if any(idea["title"] == story["idea"]["title"] for idea in drafts.json()["items"]):
                continue
        created = _submit(api, story)
        idea_id = created.json()["id"]
        for email, stars in story.get("ratings", {}).items():
            api.call("PUT", f"/api/v1/ideas/{idea_id}/rating", as_member=email, json={"stars": stars}).raise_for_status()
        posted: dict[str, str] = {}
        for comment in story.get("comments", []):
            _post(api, idea_id, comment, None, posted)
        for email in story.get("follows", []):
            api.call("POST", f"/api/v1/ideas/{idea_id}/follow", as_member=email).raise_for_status()
        for reporter, start, reason in story.get("reports", []):
            comment_id = next(cid for body, cid in posted.items() if body.startswith(start))
            api.call("POST", f"/api/v1/comments/{comment_id}/reports", as_member=reporter,
                     json={"reason": reason}).raise_for_status()
        for moderator, state, response in story.get("moves", []):
            move = {"state": state, **({"official_response": response} if response else {})}
            api.call("POST", f"/api/v1/ideas/{idea_id}/state", as_member=moderator, json=move).raise_for_status()


def _submit(api, story: dict):
    """Submit a story's idea in its network. The ideas service learns who belongs to a network from the members
    service's events, a moment after joining: until then it refuses the network, so ask again briefly."""
    for _ in range(40):
        created = api.call("POST", "/api/v1/ideas", as_member=story["author"],
                           json={**story["idea"], "draft": bool(story.get("draft"))})
        if created.status_code != 422 or "network" not in created.json()["error"].get("fields", {}):
            break
        time.sleep(0.25)
    created.raise_for_status()
    return created


def _post(api, idea_id: str, comment: tuple, parent_id: str | None, posted: dict[str, str]) -> None:
    email, body, replies = comment
    payload = {"body": body, **({"parent_id": parent_id} if parent_id else {})}
    answer = api.call("POST", f"/api/v1/ideas/{idea_id}/comments", as_member=email, json=payload)
    answer.raise_for_status()
    posted[body] = answer.json()["id"]
    for reply in replies:
        _post(api, idea_id, reply, answer.json()["id"], posted)
