"""deploy/: the systemd units verify, the container file builds from files that exist and
runs as a user with the archive in a volume; and the logs follow where they go (the
journal's priority prefixes and no time under systemd, ISO 8601 times with an offset
elsewhere), both through the formatter and through a real `relay` process."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from relay.daemon import JournalFormatter, ZonedFormatter, log_formatter, under_systemd

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d"


def record(level: int, message: str = "failed feed=x", exc: bool = False) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            info = sys.exc_info()
    return logging.LogRecord("relay", level, __file__, 1, message, None, info)


@pytest.mark.parametrize(("level", "prefix"), [
    (logging.DEBUG, "<7>DEBUG"), (logging.INFO, "<6>INFO"), (logging.WARNING, "<4>WARNING"),
    (logging.ERROR, "<3>ERROR"), (logging.CRITICAL, "<2>CRITICAL"), (25, "<6>Level 25"),
    (5, "<7>Level 5")],
    ids=["debug", "info", "warning", "error", "critical", "between-info-and-warning",
         "below-debug"])
def test_the_journal_gets_the_priority_and_no_time(level, prefix):
    assert JournalFormatter().format(record(level)) == f"{prefix} relay failed feed=x"


def test_every_line_of_a_traceback_keeps_its_priority():
    lines = JournalFormatter().format(record(logging.ERROR, exc=True)).splitlines()
    assert len(lines) > 3 and all(line.startswith("<3>") for line in lines)
    assert lines[-1] == "<3>ValueError: boom"


def test_elsewhere_a_line_starts_with_its_time_and_offset():
    rec = record(logging.WARNING)
    line = ZonedFormatter().format(rec)
    assert re.fullmatch(ISO + " WARNING relay failed feed=x", line), line
    stamp = datetime.fromisoformat(line.split()[0])
    assert stamp.utcoffset() is not None and abs(stamp.timestamp() - rec.created) < 0.001


@pytest.mark.parametrize(("env", "journal"), [
    ({}, False), ({"INVOCATION_ID": "0f1e"}, True), ({"JOURNAL_STREAM": "8:12345"}, True),
    ({"INVOCATION_ID": ""}, False), ({"TERM": "xterm"}, False)],
    ids=["plain", "invocation-id", "journal-stream", "empty", "other"])
def test_systemd_is_known_by_its_environment(env, journal):
    assert under_systemd(env) is journal
    assert isinstance(log_formatter(env), JournalFormatter if journal else ZonedFormatter)


@pytest.mark.slow
@pytest.mark.parametrize("systemd", [True, False], ids=["under-systemd", "in-a-shell"])
def test_a_real_relay_logs_as_its_place_wants(tmp_path, systemd):
    (tmp_path / "feeds.yaml").write_text(
        "settings: {database: relay.db}\nfeeds:\n  - {id: gone, name: Gone, path: gone.xml}\n",
        encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("INVOCATION_ID", "JOURNAL_STREAM")}
    env["TZ"] = "Asia/Tokyo"
    if systemd:
        env["INVOCATION_ID"] = "5d0c3e8e2a3b4c1f9e8d7c6b5a493827"
    result = subprocess.run([sys.executable, "-m", "relay", "collect"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    line = result.stderr.splitlines()[0]
    if systemd:
        assert line.startswith("<4>WARNING relay failed feed=gone stage=fetch"), line
    else:
        assert re.match(ISO + " WARNING relay failed feed=gone", line), line
        assert line[23:29] == "+09:00"          # the local zone's offset, not a bare time


def _units(tmp_path: Path) -> list[Path]:
    """The units as installed, with relay where this test's environment has it."""
    relay = shutil.which("relay") or str(Path(sys.executable).with_name("relay"))
    out = []
    for unit in sorted(DEPLOY.glob("relay*.[st]*")):
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text(encoding="utf-8").replace("/opt/relay/bin/relay", relay),
                        encoding="utf-8")
        out.append(copy)
    return out


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_the_systemd_units_verify(tmp_path):
    units = _units(tmp_path)
    assert [u.name for u in units] == ["relay-metrics.service", "relay-metrics.timer",
                                       "relay.service"]
    result = subprocess.run(["systemd-analyze", "verify", *map(str, units)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_the_service_is_hardened_and_runs_the_daemon():
    unit = (DEPLOY / "relay.service").read_text(encoding="utf-8")
    settings = dict(line.split("=", 1) for line in unit.splitlines()
                    if "=" in line and not line.startswith("#"))
    assert settings["ExecStart"] == "/opt/relay/bin/relay run"
    assert settings["User"] == "relay" and settings["Restart"] == "on-failure"
    assert settings["NoNewPrivileges"] == "yes" and settings["ProtectSystem"] == "strict"
    assert settings["StateDirectory"] == "relay"       # /var/lib/relay, where RELAY_DB is
    environment = {line.split("=", 1)[1] for line in unit.splitlines()
                   if line.startswith("Environment=")}
    assert {"RELAY_CONFIG=/etc/relay/feeds.yaml", "RELAY_DB=/var/lib/relay/relay.db",
            "XDG_CACHE_HOME=/var/cache"} <= environment
    # the cache folder (py3langid's model, the parsed taxonomy) is one systemd makes
    # writable: /var/cache/relay, as relay.cache.folder() names it under XDG_CACHE_HOME
    assert settings["CacheDirectory"] == "relay"


def test_the_container_file_builds_from_what_exists_and_runs_unprivileged():
    text = (DEPLOY / "Containerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[0] == "FROM python:3.11-slim"
    for line in lines:
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"{line}: no {source}"
    assert any("pip install ." in line for line in lines)
    user = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert user == ["relay"]
    assert 'VOLUME ["/var/lib/relay"]' in lines
    assert lines[-2:] == ['ENTRYPOINT ["relay"]', 'CMD ["run"]']
