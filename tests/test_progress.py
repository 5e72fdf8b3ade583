"""The progress display: the use cases tell each unit done through `on_progress`, and the
CLI draws it on stderr when stderr is a terminal (a real pseudo-terminal here), and
shows nothing more when it is not, or under --quiet or --json."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from relay import pipeline
from relay.config import load_config
from relay.pipeline import Progress
from relay.store import Store

NOW = datetime.now(UTC)

CONFIG = """settings:
  database: relay.db
  digests_dir: digests
  smtp: {{url: "{smtp}", sender: "relay@example.org"}}
feeds:
  - {{id: one, name: One, path: one.xml, lang: en}}
  - {{id: two, name: Two, path: two.xml, lang: en}}
  - {{id: broken, name: Broken, path: missing.xml}}
"""


def rss(prefix: str, n: int) -> str:
    items = "".join(f"<item><title>{prefix} quantum computer result number {i}</title>"
                    f"<link>https://{prefix}.example/{i}</link><guid>{prefix}-{i}</guid>"
                    f"<pubDate>{format_datetime(NOW - timedelta(hours=i))}</pubDate>"
                    f"<description>A quantum computing lab in {prefix} reports result {i}."
                    "</description></item>" for i in range(n))
    return f'<rss version="2.0"><channel><title>{prefix}</title>{items}</channel></rss>'


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    (tmp_path / "one.xml").write_text(rss("alpha", 3), encoding="utf-8")
    (tmp_path / "two.xml").write_text(rss("beta", 2), encoding="utf-8")
    path = tmp_path / "feeds.yaml"
    path.write_text(CONFIG.format(smtp="smtp://127.0.0.1:9"), encoding="utf-8")
    return path


def test_each_use_case_tells_each_unit_done(tmp_path, config_file, smtp_server):
    config_file.write_text(CONFIG.format(smtp=smtp_server.url), encoding="utf-8")
    config = load_config(config_file, env={})
    heard: list[Progress] = []
    store = Store(tmp_path / "relay.db")
    try:
        pipeline.collect(config, store, NOW, everything=True, on_progress=heard.append)
        assert heard[0] == Progress("collect", 0, 3, "feeds")
        last = heard[-1]
        assert (last.done, last.total, last.items, last.errors) == (3, 3, 5, 1)
        assert [p.done for p in heard] == [0, 1, 2, 3]

        heard.clear()
        pipeline.retag(config, store, batch=2, on_progress=heard.append)
        assert [(p.done, p.total) for p in heard] == [(0, 5), (2, 5), (4, 5), (5, 5)]

        sub = pipeline.make_subscriber(config, "desk@example.org", ["quantum"])
        store.upsert_subscriber(sub, NOW - timedelta(days=1))
        heard.clear()
        (built,) = pipeline.build_digests(config, store, NOW, on_progress=heard.append)
        assert built.status == "built"
        assert heard == [Progress("build", 0, 1, "digests"),
                         Progress("build", 1, 1, "digests", items=built.stories)]

        heard.clear()
        pipeline.send_pending(config, store, NOW, on_progress=heard.append)
        assert heard == [Progress("send", 0, 1, "deliveries"),
                         Progress("send", 1, 1, "deliveries", items=1)]
    finally:
        store.close()


def _run_on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run relay with its stderr on a pseudo-terminal: (exit code, stdout, what the
    terminal showed)."""
    controller, terminal = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "TERM"} | {"COLUMNS": "120"}
    proc = subprocess.Popen([sys.executable, "-m", "relay", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=terminal, stdin=subprocess.DEVNULL)
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:       # EIO: the process closed its side
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    stdout, _ = proc.communicate(timeout=60)
    return proc.returncode, stdout.decode(), shown.decode()


@pytest.mark.slow
def test_a_terminal_sees_the_progress_and_a_pipe_sees_nothing_more(tmp_path, config_file):
    code, stdout, shown = _run_on_a_terminal(["collect", "--all"], tmp_path)
    assert code == 1, shown            # the broken feed failed, the others were collected
    assert "collect: 0/3 feeds, 0 new items, 0 failed" in shown
    assert "collect: 3/3 feeds, 5 new items, 1 failed" in shown
    assert "\r\x1b[K" in shown          # the line is erased before the summary
    # a log line written while the progress line stands starts a line of its own: the
    # progress is erased first, not left in front of it ("...1 failed2026-12-02T...")
    assert re.search(r"\r\x1b\[K(<\d>)?[^\r\n]*failed feed=broken", shown), shown
    assert not re.search(r"failed[^\r\n]+failed feed=broken", shown), shown
    assert "one: 3 new, 0 duplicate" in stdout

    (tmp_path / "relay.db").unlink()
    piped = subprocess.run([sys.executable, "-m", "relay", "collect", "--all"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert piped.returncode == 1
    assert piped.stdout == stdout
    # nothing but the failed feed's log line and the summary: no progress, no escapes
    lines = piped.stderr.splitlines()
    assert lines[-1] == "3 feeds, 5 new items, 1 failed"
    assert len(lines) == 2 and "failed feed=broken" in lines[0]
    assert "\r" not in piped.stderr and "\x1b" not in piped.stderr

    for flags in (["--quiet", "collect", "--all"], ["collect", "--all", "--json"]):
        (tmp_path / "relay.db").unlink()
        code, _out, shown = _run_on_a_terminal(flags, tmp_path)
        assert code == 1
        assert "collect:" not in shown and "\x1b" not in shown, flags


@pytest.mark.slow
def test_retag_on_a_terminal_shows_items(tmp_path, config_file):
    subprocess.run([sys.executable, "-m", "relay", "collect", "--all"], cwd=tmp_path,
                   capture_output=True, timeout=60)
    code, stdout, shown = _run_on_a_terminal(["retag"], tmp_path)
    assert code == 0, shown
    assert "retag: 5/5 items" in shown and "retagged 5 items" in stdout
