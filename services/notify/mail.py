"""Emails: bodies from templates, and sending them over SMTP (``SMTP_URL``).

Each email is rendered from ``services/notify/templates/<name>.subject.txt``,
``<name>.txt`` and ``<name>.html`` and sent as a multipart/alternative
message with a ``Message-ID`` that stays the same on every attempt, so a
receiver can drop a repeat sent after a crash.
"""
from __future__ import annotations

import smtplib
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from pathlib import Path
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.notify import domain

TEMPLATES = Path(__file__).resolve().parent / "templates"


def local_time(value: str | datetime | None, time_zone: str | None = None) -> str:
    """An instant in the reader's time zone, the way the pages show it."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return format_datetime(moment.astimezone(ZoneInfo(time_zone or "Australia/Sydney")), "d MMMM yyyy 'at' h:mm a",
                           locale="en_AU")


class MailTemplates:
    """Renders an email's subject, plain-text and HTML bodies; HTML is autoescaped, so member text stays text."""

    def __init__(self, directory: Path = TEMPLATES):
        loader = FileSystemLoader(str(directory))
        self.html = Environment(loader=loader, autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                                trim_blocks=True, lstrip_blocks=True)
        self.text = Environment(loader=loader, autoescape=False, undefined=StrictUndefined, trim_blocks=True,
                                lstrip_blocks=True, keep_trailing_newline=True)
        for env in (self.html, self.text):
            env.filters["local_time"] = local_time

    def render(self, name: str, context: dict) -> tuple[str, str, str]:
        """``(subject, text, html)`` for template ``name``."""
        subject = " ".join(self.text.get_template(f"{name}.subject.txt").render(**context).split())
        return subject, self.text.get_template(f"{name}.txt").render(**context), \
            self.html.get_template(f"{name}.html").render(**context)


def build_message(*, sender: str, to_address: str, to_name: str, subject: str, text: str, html: str,
                  message_id: str, unsubscribe_url: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = formataddr((to_name, to_address))
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = message_id
    if unsubscribe_url:
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


class SmtpSender:
    """Sends over ``smtp://[user:password@]host[:port]`` (``?starttls=true`` to upgrade) or ``smtps://``."""

    def __init__(self, url: str, timeout: float = 10.0):
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://host:port or smtps://user:password@host:port")
        self.ssl = parts.scheme == "smtps"
        self.host = parts.hostname
        self.port = parts.port or (465 if self.ssl else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.starttls = "starttls=true" in (parts.query or "").lower()
        self.timeout = timeout

    def send(self, message: EmailMessage) -> None:
        """Deliver one message to the SMTP server; raises on any refusal or connection problem."""
        client_class = smtplib.SMTP_SSL if self.ssl else smtplib.SMTP
        with client_class(self.host, self.port, timeout=self.timeout) as client:
            if self.starttls:
                client.starttls()
            if self.user:
                client.login(self.user, self.password or "")
            client.send_message(message)


def send_pending(store, contacts_for, settings, owner: str, now: datetime) -> int:
    """Send due ``outgoing_mail`` rows; returns how many were sent.

    ``contacts_for(member_ids)`` answers ``[{member_id, email, display_name,
    time_zone}]`` for active members (the members service; addresses never
    travel in events). A member without an answer is no longer active: their
    mail is dropped. A failed send is retried with back-off, then given up.
    """
    rows = store.claim_mail(owner, now, timedelta(minutes=2))
    if not rows:
        return 0
    contacts = {c["member_id"]: c for c in contacts_for(sorted({row["recipient"] for row in rows}))}
    sent = 0
    for row in rows:
        contact = contacts.get(row["recipient"])
        if contact is None:
            store.mail_dropped(row["_id"], "no active member with an email address")
            continue
        unsubscribe_url = settings.unsubscribe_url(row["recipient"], row["kind"]) if row.get("kind") else None
        context = {**row["context"], "display_name": contact["display_name"], "site_name": settings.site_name,
                   "time_zone": contact.get("time_zone") or "Australia/Sydney", "unsubscribe_url": unsubscribe_url,
                   "preferences_url": f"{settings.public_url}/notifications/preferences"}
        for group in context.get("groups", []):
            group["unsubscribe_url"] = settings.unsubscribe_url(row["recipient"], group["kind"])
        try:
            subject, text, html = settings.templates.render(row["template"], context)
            message = build_message(sender=settings.mail_from, to_address=contact["email"],
                                    to_name=contact["display_name"], subject=subject, text=text, html=html,
                                    message_id=row["message_id"], unsubscribe_url=unsubscribe_url)
            settings.smtp.send(message)
        except (OSError, smtplib.SMTPException) as exc:
            attempts = row.get("attempts", 0) + 1
            store.mail_failed(row["_id"], attempts, f"{exc.__class__.__name__}: {exc}",
                              give_up=attempts >= domain.MAX_MAIL_ATTEMPTS,
                              retry_at=domain.next_mail_attempt(attempts, now))
            continue
        store.mail_sent(row["_id"], contact["email"])
        sent += 1
    return sent
