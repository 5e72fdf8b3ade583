"""Mail: building a digest's message, and handing queued messages to SMTP.

Building (`build_message`): multipart/alternative with a UTF-8 text part
first and the HTML part second (RFC 2046: the preferred last), a Message-ID
fixed at build time (so a resend after a crash carries the same id and
clients can drop the copy), Date, From, To, List-Id and List-Unsubscribe
(mailto). Header values are set through `email.message.EmailMessage`, which
RFC 2047-encodes non-ASCII text and refuses line breaks, so feed text cannot
inject headers. The message is saved as `.eml` bytes with CRLF line ends
(`email.policy.SMTP`), exactly what is later sent.

Sending (`SmtpSender`): one connection for a batch of messages, reconnecting
when the server drops it; `smtp://` plain, `smtp+starttls://` upgraded,
`smtps://` TLS from the start, with optional user:password in the URL.
A 4xx answer or a broken connection is temporary (the delivery stays queued
and is retried later); a 5xx answer is permanent (the delivery fails with
the server's reply). smtplib exceptions are translated here into
`DeliveryError`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import re
import smtplib
import ssl
import unicodedata
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from types import TracebackType
from urllib.parse import quote, urlencode

from relay.errors import DeliveryError
from relay.models import parse_smtp_url, valid_address

# (A deliverable address: models.valid_address, the one rule.)
_ENVELOPE = re.compile(r"[!-;=?-~]+@[!-;=?-~]+")   # printable ASCII, no space, < or >
_FORBIDDEN = {"Cc", "Cs", "Zl", "Zp"}     # control, lone surrogate, line/paragraph separator


def header_text_problem(text: str) -> str | None:
    """Why `text` (a name, an organization) cannot go into a mail header, or None."""
    bad = next((ch for ch in text if unicodedata.category(ch) in _FORBIDDEN), None)
    if bad is not None:
        return f"must not hold control characters (found {bad!r})"
    return None


def shown_address(address: str) -> str:
    """An address as it can be printed on one line: one stored with a control character
    (or anything but printable ASCII) is shown quoted and escaped."""
    return address if address.isascii() and address.isprintable() else repr(address)


def one_line_name(text: str) -> str:
    """A name as a header and a greeting show it: control characters dropped, white space
    collapsed (a row stored before relay refused them still gets its digest)."""
    return " ".join("".join(ch for ch in text
                            if unicodedata.category(ch) not in _FORBIDDEN).split())


def recipient_problem(address: str, name: str) -> str | None:
    """Why a digest cannot be addressed to (address, name), or None: what the email
    package would refuse when it builds the To header is refused before it is stored."""
    if not valid_address(address):
        return f"{address!r} is not a valid e-mail address"
    problem = header_text_problem(name)
    if problem:
        return f"the name {problem}"
    try:
        msg = EmailMessage(policy=SMTP)
        msg["To"] = Address(" ".join(name.split()), addr_spec=address)
        msg.as_bytes()
    except Exception as exc:  # noqa: BLE001 - whatever the email package refuses
        return f"the address or name cannot be a mail header: {exc}"
    return None


def new_message_id(sender: str) -> str:
    domain = sender.rpartition("@")[2] or "relay.localhost"
    return make_msgid(idstring="relay", domain=domain)


def unsubscribe_token(secret: str, address: str) -> str:
    """An HMAC-SHA256 of the address under the operator's secret: only who holds the
    secret (relay) can make one, so nobody can unsubscribe someone else."""
    mac = hmac.new(secret.encode("utf-8"), address.strip().lower().encode("utf-8"),
                   hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode("ascii")


def token_matches(secret: str, address: str, token: str) -> bool:
    return hmac.compare_digest(unsubscribe_token(secret, address), token.strip())


def unsubscribe_mailto(sender: str, secret: str, address: str) -> str:
    """The mailto: unsubscribe link; with a secret its subject carries the address and
    its token, so the mailbox's reader can check it like the https link."""
    if not secret:
        return f"mailto:{sender}?subject=unsubscribe"
    subject = quote(f"unsubscribe {address} {unsubscribe_token(secret, address)}")
    return f"mailto:{sender}?subject={subject}"


def unsubscribe_url(base_url: str, secret: str, address: str) -> str:
    query = urlencode({"e": address, "t": unsubscribe_token(secret, address)})
    return f"{base_url.rstrip('/')}/unsubscribe?{query}"


def build_message(
    *, sender: str, to_address: str, to_name: str, subject: str, text: str, html: str,
    message_id: str, date: str, list_id: str, unsubscribe_https: str | None = None,
    unsubscribe_mailto: str | None = None,
) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = " ".join(subject.split())
    msg["From"] = Address("relay", addr_spec=sender)
    msg["To"] = Address(one_line_name(to_name), addr_spec=to_address)
    msg["Date"] = date
    msg["Message-ID"] = message_id
    msg["List-Id"] = f"relay digests <{list_id}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    raw = msg.as_bytes()
    # List-Unsubscribe (RFC 2369) must reach clients as plain <URI>s, but the email
    # package would RFC 2047-encode a long URI; the line is written here, folded between
    # its URIs. With https, List-Unsubscribe-Post makes it one-click (RFC 8058).
    mailto = unsubscribe_mailto or f"mailto:{sender}?subject=unsubscribe"
    if any(ch in mailto for ch in "\r\n <>"):
        raise DeliveryError("bad unsubscribe address", address=to_address, temporary=False)
    extra = f"List-Unsubscribe: <{mailto}>"
    if unsubscribe_https:
        if any(ch in unsubscribe_https for ch in "\r\n <>"):
            raise DeliveryError("bad unsubscribe URL", address=to_address, temporary=False)
        extra += f",\r\n <{unsubscribe_https}>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click"
    end = raw.index(b"\r\n\r\n") + 2
    return raw[:end] + (extra + "\r\n").encode("ascii") + raw[end:]


def format_date(dt: object) -> str:
    return format_datetime(dt)  # type: ignore[arg-type]


class SmtpSender:
    """One SMTP session reused for many messages. Use as a context manager."""

    def __init__(self, url: str, timeout: float = 30.0,
                 allow_plaintext_auth: bool = False) -> None:
        try:
            target = parse_smtp_url(url, allow_plaintext_auth)
        except ValueError as exc:
            raise DeliveryError(f"bad SMTP URL: {exc}", temporary=False,
                                hint="use smtp://host:port, smtps://... or smtp+starttls://...",
                                ) from None
        self.scheme = target.scheme
        self.host = target.host
        self.port = target.port
        self.user = target.user
        self.password = target.password
        self.timeout = timeout
        self._conn: smtplib.SMTP | None = None
        self.connections = 0

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        where = f"{self.host}:{self.port}"
        try:
            conn: smtplib.SMTP
            if self.scheme == "smtps":
                conn = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                        context=ssl.create_default_context())
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.scheme == "smtp+starttls":
                    conn.starttls(context=ssl.create_default_context())
            if self.user:
                conn.login(self.user, self.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP login refused: {exc.smtp_code}", address=where,
                                temporary=False) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"cannot connect to SMTP server: {exc}", address=where) from exc
        self.connections += 1
        return conn

    def send(self, sender: str, recipient: str, message: bytes) -> None:
        """Hand one message to the server; DeliveryError says whether to retry."""
        for address in (sender, recipient):
            if not _ENVELOPE.fullmatch(address):   # a CR LF would start a second SMTP command
                raise DeliveryError(f"refused to send: {address!r} is not a valid e-mail "
                                    "address", address=repr(recipient), temporary=False)
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = self._connect()
            try:
                self._conn.sendmail(sender, [recipient], message)
                return
            except smtplib.SMTPServerDisconnected as exc:
                self._conn = None
                if attempt == 2:
                    raise DeliveryError(f"SMTP server disconnected: {exc}",
                                        address=recipient) from exc
            except smtplib.SMTPRecipientsRefused as exc:
                code, reply = exc.recipients.get(recipient, (550, b"refused"))
                raise DeliveryError(f"SMTP {code} {_text(reply)}", address=recipient,
                                    temporary=400 <= code < 500) from exc
            except smtplib.SMTPResponseException as exc:
                self._reset()
                raise DeliveryError(f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}",
                                    address=recipient,
                                    temporary=400 <= exc.smtp_code < 500) from exc
            except (OSError, smtplib.SMTPException) as exc:
                self._conn = None
                raise DeliveryError(f"SMTP error: {exc}", address=recipient) from exc

    def _reset(self) -> None:
        try:
            if self._conn is not None:
                self._conn.rset()
        except (OSError, smtplib.SMTPException):
            self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._conn.quit()
            self._conn = None


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
