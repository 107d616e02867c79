"""Demonstration content for the knowledge archive: a resource of every kind, a proposal waiting for review,
one earlier consultation page imported, and the lessons from the adopted demo idea linked to its archived copy. Called by ``engage seed-demo`` after agencies and members exist;
running it again changes nothing (each step checks first, and a page imported twice is kept once)."""
from __future__ import annotations

import time

ROSA = "rosa.nguyen@apsc.example.gov.au"      # administrator, apsc
TARIQ = "tariq.haddad@dta.example.gov.au"     # administrator, dta
GRACE = "grace.okafor@health.example.gov.au"  # administrator, health
JILL = "jill.moreton@apsc.example.gov.au"     # member, apsc

RESOURCES = [
    (ROSA, {
        "kind": "framework", "title": "Engagement and partnership craft",
        "summary": "Six habits of good engagement, from being clear on intent to closing the loop with the people "
                   "who took part.",
        "body": "## The habits\n\n1. **Say why you are engaging** and what can still change.\n"
                "2. **Find the people the decision touches**, not only the ones who answer first.\n"
                "3. **Build the relationship before you need it.**\n"
                "4. **Be open about risks** you share with partners.\n"
                "5. **Share what you heard** and what you did with it.\n"
                "6. **End well**: tell people when an engagement closes and what happens next.\n\n"
                "Each habit has a one-page worksheet in the appendix.",
        "licence": "CC-BY-4.0", "attribution": "Australian Public Service Commission",
        "tags": ["principles", "partnerships"]}),
    (TARIQ, {
        "kind": "tool", "title": "Co-design workshop canvas",
        "summary": "A one-page canvas for planning a co-design session: purpose, people, questions and follow-up.",
        "body": "Print it at A3 and fill it in with your team **before** inviting anyone.\n\n"
                "- Purpose: the decision the session informs\n- People: who is in the room and who is missing\n"
                "- Questions: three at most\n- Follow-up: when participants will hear back",
        "link": "https://www.example.gov.au/co-design-canvas", "licence": "CC-BY-SA-4.0",
        "attribution": "Digital Transformation Agency, service design team", "tags": ["co-design", "workshops"]}),
    (GRACE, {
        "kind": "network", "title": "Community partnerships network",
        "summary": "Practitioners who work with community organisations as partners meet monthly to compare notes.",
        "body": "Open to anyone in the public service. Meetings alternate between a case discussion and a "
                "short talk from a community partner.",
        "licence": "CC-BY-4.0", "attribution": "Department of Health and Aged Care", "tags": ["partnerships"]}),
    (ROSA, {
        "kind": "research", "title": "What changes after a citizens' panel",
        "summary": "A review of twelve panels run by five agencies, tracing which recommendations were acted on.",
        "body": "Panels whose sponsors committed in advance to respond publicly saw most of their recommendations "
                "answered within a year. Panels without that commitment often heard nothing back.",
        "licence": "CC-BY-4.0", "attribution": "Australian Public Service Commission, research unit",
        "tags": ["panels", "deliberation"]}),
    (TARIQ, {
        "kind": "course", "title": "Online engagement for public servants",
        "summary": "Two half-day modules: taking part online as an individual, and planning an agency's "
                   "online engagement.",
        "body": "The course material is shared for reuse. Adapt the exercises to your agency and keep the "
                "attribution.\n\nModule 1 covers personal conduct online; module 2 covers planning, moderation "
                "and measuring what worked.",
        "licence": "CC-BY-4.0", "attribution": "Digital Transformation Agency", "tags": ["online", "social-media"]}),
    (GRACE, {
        "kind": "case_study", "title": "Rewriting reminder letters with the people who receive them",
        "summary": "How a program team halved calls about reminder letters by testing drafts with recipients.",
        "body": "The team tested four drafts with twenty recipients over two weeks. The version that won put the "
                "date and the action in the first line.",
        "licence": "CC-BY-NC-4.0", "attribution": "Department of Health and Aged Care, letters project",
        "tags": ["plain-language", "letters"]}),
    (TARIQ, {
        "kind": "post", "title": "Sharing our courseware under Creative Commons",
        "summary": "Why we published our online engagement course material for any agency to reuse, and what "
                   "participants told us.",
        "body": "More than a hundred people from many agencies took the pilot sessions. We have attached the "
                "material so others can run it; feedback is welcome in the comments.",
        "licence": "CC-BY-4.0", "attribution": "Digital Transformation Agency", "tags": ["courseware", "online"]}),
]

PROPOSAL = (JILL, {
    "kind": "tool", "title": "Stakeholder map template",
    "summary": "A spreadsheet for listing stakeholders by interest and influence, with a column for how each "
               "will hear back.",
    "licence": "CC0-1.0", "attribution": "Jill Moreton", "tags": ["stakeholders", "templates"],
    "note": "We have used this in three projects."})

LEGACY_PAGE = """Sharing Old Consultations

Register of Engagement Evaluations

Collect the evaluations agencies write after a consultation, in one searchable place.

What it might look like: A list of evaluations with the method used, the number of people reached and one lesson.

Why the contribution is important
Evaluations are written and then filed away. Reading three of them before planning would save most teams a mistake.

Rate this idea: (1 star 'bad'; 5 stars 'great')
Add comments: Which evaluations would you share first?

by Priya Raman on August 14, 2017 at 10:20AM

Current Rating

Average rating: 4.1
Based on: 9 votes

Posted by Tom Leclerc August 15, 2017 at 08:50
We would share ours if names of participants are left out.

Posted by Priya Raman August 16, 2017 at 1:05 pm
Agreed; the register would hold summaries, never personal details.

Log in or register to comment and rate this idea
"""


ADOPTED_IDEA_TITLE = "Plain-language summaries for every public consultation"
LESSONS = (TARIQ, {
    "kind": "case_study", "title": "Lessons from our first plain-language summaries",
    "summary": "What two rounds of one-page summaries taught the team: write the summary first, and say what is "
               "already decided.",
    "body": "## What worked\n\n- Writing the summary **before** the paper kept the paper focused.\n"
            "- A reader from outside the team caught jargon the authors no longer noticed.\n\n"
            "## What we would change\n\n- Say when people will hear back, on the summary itself.\n"
            "- Keep the four headings even when one feels obvious.",
    "licence": "CC-BY-4.0", "attribution": "Digital Transformation Agency, engagement team",
    "tags": ["plain-language", "lessons"]})


def seed(client, say=print) -> None:
    """Publish the demo resources, leave one proposal waiting and import one earlier page, unless already done."""
    existing = {r["title"] for r in client.call("GET", "/api/v1/archive/resources", params={"limit": 200})
                .json()["items"]}
    for publisher, fields in RESOURCES:
        if fields["title"] not in existing:
            client.call("POST", "/api/v1/archive/resources", as_member=publisher, json=fields).raise_for_status()
            say(f"    resource {fields['title']}")
    proposer, fields = PROPOSAL
    mine = client.call("GET", "/api/v1/archive/proposals", as_member=proposer).json()["items"]
    if fields["title"] not in existing and all(p["fields"]["title"] != fields["title"] for p in mine):
        client.call("POST", "/api/v1/archive/proposals", as_member=proposer, json=fields).raise_for_status()
        say(f"    proposal {fields['title']} (waiting for review)")
    _link_lessons(client, existing, say)
    answer = client.call("POST", "/api/v1/archive/imports", as_member=ROSA, data=LEGACY_PAGE.encode("utf-8"),
                         headers={"Content-Type": "text/plain; charset=utf-8"})
    answer.raise_for_status()
    if answer.status_code == 201:
        say(f"    archived idea {answer.json()['title']} (imported)")


def _link_lessons(client, existing: set[str], say, wait_seconds: float = 20.0) -> None:
    """Publish the lessons of the adopted demo idea once the archive has kept the idea (it hears by event)."""
    publisher, fields = LESSONS
    if fields["title"] in existing:
        return
    answer = client.call("GET", "/api/v1/ideas", params={"state": "adopted", "limit": 100})
    if answer.status_code != 200:  # the ideas service is not running: there is nothing to link yet
        return
    idea = next((i for i in answer.json()["items"] if i["title"] == ADOPTED_IDEA_TITLE), None)
    if idea is None:
        return
    deadline = time.monotonic() + wait_seconds
    while client.call("GET", f"/api/v1/archive/ideas/{idea['id']}").status_code != 200:
        if time.monotonic() > deadline:
            say(f"    the archive has not kept {ADOPTED_IDEA_TITLE!r} yet; run seed-demo again to link its lessons")
            return
        time.sleep(0.5)
    client.call("POST", "/api/v1/archive/resources", as_member=publisher,
                json={**fields, "related_ideas": [idea["id"]]}).raise_for_status()
    say(f"    resource {fields['title']} (lessons of an adopted idea)")
