"""Sending mail never hangs on a server that accepts a connection and then says nothing."""
import smtplib
import socket
import time

import pytest

from services.notify.mail import SmtpSender, build_message


def test_an_smtp_server_that_never_greets_fails_the_send_within_its_timeout():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # the kernel completes the connection; nobody ever answers on it
    message = build_message(sender="Engage <n@engage.localhost>", to_address="rosa@example.gov.au",
                            to_name="Rosa", subject="Hello", text="Hello", html="<p>Hello</p>",
                            message_id="<m-1@engage.localhost>")
    sender = SmtpSender(f"smtp://127.0.0.1:{silent.getsockname()[1]}", timeout=0.5)
    began = time.monotonic()
    try:
        with pytest.raises((OSError, smtplib.SMTPException)):
            sender.send(message)
    finally:
        silent.close()
    assert time.monotonic() - began < 2
