"""One rule for an e-mail address (models.valid_address), whoever asks: a subscriber at
`subscribe` and import, the sender and admin address at `check`. A sender or admin
address may be a host's own mailbox (relay@localhost, the default sender); a subscriber's
needs a dotted domain."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay.config import load_config
from relay.errors import ConfigError
from relay.models import valid_address

CASES = [
    ("desk@mext.example", True, True),
    ("first.last+tag@sub.mext.example", True, True),
    ("relay@localhost", False, True),
    ("desk@mext.example\n", False, False),          # `$` would let a newline through
    ("desk\x00@mext.example", False, False),
    ("dé@mext.example", False, False),
    ("a b@mext.example", False, False),
    ("a..b@mext.example", False, False),
    ("<a@mext.example>", False, False),
    ("a@-mext.example", False, False),
    ("x" * 250 + "@m.example", False, False),       # over 254 characters
]


@pytest.mark.parametrize(("address", "subscriber", "local"), CASES,
                         ids=[repr(c[0])[:30] for c in CASES])
def test_one_address_rule(address, subscriber, local):
    assert valid_address(address) is subscriber
    assert valid_address(address, local_domain=True) is local


@pytest.mark.parametrize(("address", "subscriber", "local"), CASES,
                         ids=[repr(c[0])[:30] for c in CASES])
def test_the_sender_and_admin_address_follow_the_rule(tmp_path: Path, address, subscriber,
                                                      local):
    for key, text in (("sender", f'settings:\n  smtp:\n    sender: {address!r}\n'),
                      ("admin_email", f"settings:\n  admin_email: {address!r}\n")):
        path = tmp_path / "feeds.yaml"
        path.write_text(text.replace("'", '"') if "\n" in address or "\x00" in address
                        else text, encoding="utf-8")
        if local:
            load_config(path, env={})
        else:
            with pytest.raises(ConfigError, match=key):
                load_config(path, env={})


@pytest.mark.parametrize("recipient", ["desk@mext.example\n", "desk@mext.example\r\n",
                                       "desk@mext.example\nRCPT TO:<x@y.example>"])
def test_an_envelope_address_with_a_line_break_is_refused_before_any_connection(recipient):
    """The envelope check is the last guard before SMTP: a trailing line break (which `$`
    lets through) is refused for good, not tried as a connection (port 1: nothing
    listens)."""
    from relay.digest.deliver import SmtpSender
    from relay.errors import DeliveryError

    with SmtpSender("smtp://127.0.0.1:1", 5, False) as sender, \
            pytest.raises(DeliveryError) as caught:
        sender.send("relay@example.org", recipient, b"Subject: x\r\n\r\nx\r\n")
    assert "refused to send" in caught.value.message and not caught.value.temporary
