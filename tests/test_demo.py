"""`relay demo` on a fresh folder: the whole pipeline offline, in a real subprocess."""

from __future__ import annotations

import email
import subprocess
import sys
import time
from email.policy import default

import pytest

pytestmark = pytest.mark.slow


def test_demo_runs_the_whole_pipeline_offline(tmp_path):
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "relay", "demo"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 60
    out = result.stdout
    assert "1 exact duplicates dropped" in out
    assert "5 of 5 feeds answered 304 Not Modified" in out
    assert (tmp_path / "storage" / "demo.db").exists()
    received = sorted((tmp_path / "digests" / "received").glob("*.eml"))
    assert len(received) == 2
    messages = {m["To"].addresses[0].addr_spec: m for m in (
        email.message_from_bytes(p.read_bytes(), policy=default) for p in received)}
    ja = messages["kagaku-desk@mext.example"]
    assert ja["Subject"].startswith("海外現地情報 週報")
    body = ja.get_body(("plain",)).get_content()
    assert "コネチカット州が量子技術に1億2100万ドルを投資" in body
    # The Japanese report and the local English article are one story across languages.
    assert "ほかの報道: Connecticut Tech Wire" in body
    en = messages["intl-office@university.example"]
    text = en.get_body(("plain",)).get_content()
    assert "fusion cuisine" not in text.lower()
    # The syndicated rewrite joined the original's story: one headline, an "also" line.
    assert text.count("Elm Street Bio raises $18 million") == 1
    assert "also: Bay Area Science Desk" in text
    # The reader's language first: the English article leads the Connecticut story, the
    # consulate's Japanese report follows, named in English and marked as Japanese.
    flat = " ".join(text.split())
    assert ("Connecticut commits $121 million to quantum push" in flat
            and "also: Consulate-General of Japan in Boston (in Japanese)" in flat)
    assert "コネチカット州が量子技術に1億2100万ドルを投資" not in flat
    assert "在ボストン" not in flat and "Embassy of Japan in Germany" in flat
    assert list((tmp_path / "digests").glob("20*/*.html"))
