"""Mission reports through their inbox: submit checks them, collect archives what it
stored and moves unreadable files aside with the reason; nothing is deleted."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from relay.cli import main

GOOD = """---
title: コネチカット州が量子技術に1億2100万ドルを投資
date: 2026-11-24
author: 科学技術担当
topics: [quantum, research-funding]
---
州政府は量子コンピュータの研究拠点に1億2100万ドルを投じると発表した。
"""


def setup(tmp_path: Path) -> tuple[Path, Path]:
    inbox = tmp_path / "reports" / "inbox" / "boston"
    inbox.mkdir(parents=True)
    config = tmp_path / "feeds.yaml"
    config.write_text("""
settings:
  database: relay.db
feeds:
  - id: boston-reports
    name: 在ボストン総領事館 報告
    kind: reports
    path: reports/inbox/boston
    mission: boston
    lang: ja
""", encoding="utf-8")
    return config, inbox


def run(config: Path, *args: str):
    return CliRunner().invoke(main, ["--config", str(config), *args])


def test_submit_checks_the_front_matter(tmp_path):
    config, inbox = setup(tmp_path)
    good = tmp_path / "report.md"
    good.write_text(GOOD, encoding="utf-8")
    result = run(config, "submit", str(good), "--feed", "boston-reports")
    assert result.exit_code == 0, result.output
    assert (inbox / "report.md").read_text(encoding="utf-8") == GOOD
    assert good.exists()   # a copy: the author's file stays

    again = run(config, "submit", str(good), "--feed", "boston-reports")
    assert "report-2.md" in again.output   # never overwrites a waiting report

    bad = tmp_path / "bad.md"
    bad.write_text("---\ntitle: x\ndate: someday\ntopics: [quantum, cooking]\n---\nbody\n",
                   encoding="utf-8")
    result = run(config, "submit", str(bad), "--feed", "boston-reports")
    assert result.exit_code == 2
    assert "not a date" in result.stderr and "unknown topics cooking" in result.stderr
    assert not (inbox / "bad.md").exists()
    assert run(config, "submit", str(good), "--feed", "nope").exit_code == 2


def test_collect_archives_reports_and_sets_bad_files_aside(tmp_path):
    config, inbox = setup(tmp_path)
    (inbox / "2026-11-24-quantum.md").write_text(GOOD, encoding="utf-8")
    (inbox / "broken.md").write_text("---\ntitle: [unclosed\n---\nbody\n", encoding="utf-8")
    (inbox / "notes.txt").write_text("NIH予算削減の影響\n\nボストンの研究室で採用凍結。\n",
                                     encoding="utf-8")
    result = run(config, "collect", "--json")
    assert result.exit_code == 1   # one file was unreadable; the others were collected
    (report,) = json.loads(result.stdout)
    assert report["new"] == 2 and "bad front matter" in report["error"]

    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == []
    archived = sorted(p.name for p in (inbox / "archive").rglob("*") if p.is_file())
    assert archived == ["2026-11-24-quantum.md", "notes.txt"]
    assert (inbox / "rejected" / "broken.md").exists()
    reason = (inbox / "rejected" / "broken.md.reason.txt").read_text(encoding="utf-8")
    assert "bad front matter" in reason

    found = json.loads(run(config, "search", "量子コンピューター", "--format", "json").stdout)
    assert [r["title"] for r in found] == ["コネチカット州が量子技術に1億2100万ドルを投資"]
    assert set(found[0]["topics"]) >= {"quantum", "research-funding"}
    assert found[0]["mission"] == "boston"

    # The same report dropped in again is a duplicate, and is archived again.
    (inbox / "2026-11-24-quantum.md").write_text(GOOD, encoding="utf-8")
    (again,) = json.loads(run(config, "collect", "boston-reports", "--json").stdout)
    assert again["new"] == 0 and again["duplicates"] == 1 and again["ok"]
    assert not (inbox / "2026-11-24-quantum.md").exists()


def test_an_unreadable_report_is_named_in_its_feeds_error(tmp_path):
    """One bad file among good ones: the feed's one-line error (collect, relay feeds)
    says which file it was and where it went, not only what was wrong with it."""
    config, inbox = setup(tmp_path)
    (inbox / "good.md").write_text(GOOD, encoding="utf-8")
    (inbox / "draft-7.md").write_text("---\ntitle: [unclosed\n---\nbody\n", encoding="utf-8")
    result = run(config, "collect")
    assert result.exit_code == 1
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("boston-reports:"))
    assert "draft-7.md" in line and "bad front matter" in line and "rejected" in line
    assert "draft-7.md" in run(config, "feeds").stdout
    assert (inbox / "rejected" / "draft-7.md").exists()
