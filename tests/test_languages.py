"""Every language, end to end: a Chinese feed that declares no language is stored as zh,
indexed so that a Chinese query finds it, kept from a subscriber who reads Japanese
only, and marked in the digest of one who reads everything; feeds and missions are
named in the reader's language."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay.cli import main
from relay.langs import primary

FIXTURES = Path(__file__).parent / "langs"
DATE = format_datetime(datetime.now(UTC))


def ja_feed() -> str:
    return ("<rss version=\"2.0\"><channel><title>在ボストン日本国総領事館</title>"
            "<link>https://boston.example/</link><item><title>コネチカット州の量子技術投資について</title>"
            f"<link>https://boston.example/1</link><guid>b-1</guid><pubDate>{DATE}</pubDate>"
            "<description>コネチカット州は量子コンピューター研究の新たな拠点を設ける。</description>"
            "</item></channel></rss>")


@pytest.fixture
def archive(tmp_path: Path, http_server) -> tuple[CliRunner, list[str], Path]:
    zh = http_server.add("/zh.xml", (FIXTURES / "zh-science.xml").read_text(
        encoding="utf-8").replace("DATE", DATE))
    ja = http_server.add("/ja.xml", ja_feed())
    config = tmp_path / "feeds.yaml"
    config.write_text(f"""
settings:
  database: relay.db
  fetch: {{host_delay: 0}}
missions:
  - id: boston
    name: {{ja: 在ボストン日本国総領事館管轄, en: Boston consular district}}
feeds:
  - id: zh-science
    name: {{zh: 科技新闻, en: Science News in Chinese}}
    url: {zh}
    topics: [quantum]
    allow_private: true
  - id: boston-cg
    name: {{ja: 在ボストン日本国総領事館, en: Consulate-General of Japan in Boston}}
    url: {ja}
    mission: boston
    lang: ja
    topics: [quantum]
    allow_private: true
""", encoding="utf-8")
    runner = CliRunner()
    args = ["--config", str(config)]
    result = runner.invoke(main, [*args, "collect"])
    assert result.exit_code == 0, result.output
    return runner, args, tmp_path


def test_chinese_feed_is_stored_as_zh(archive) -> None:
    runner, args, _ = archive
    rows = [json.loads(line) for line in runner.invoke(
        main, [*args, "export", "--format", "jsonl"]).stdout.splitlines()]
    langs = {r["title"]: r["lang"] for r in rows}
    assert langs == {
        "中国科学院发布新一代量子计算原型机": "zh",
        "国务院常务会议通过科技创新支持政策": "zh",
        "國家科學及技術委員會公布量子國家隊計畫": "zh",      # Traditional
        "コネチカット州の量子技術投資について": "ja",
    }


@pytest.mark.parametrize(
    ("query", "found"),
    [("量子计算", "中国科学院发布新一代量子计算原型机"),
     ("科技创新", "国务院常务会议通过科技创新支持政策"),
     ("國科會", "國家科學及技術委員會公布量子國家隊計畫"),
     ("量子コンピューター", "コネチカット州の量子技術投資について")],
    ids=["zh-hans", "zh-hans-title", "zh-hant-body", "ja-still-sudachi"],
)
def test_chinese_search(archive, query: str, found: str) -> None:
    runner, args, _ = archive
    result = runner.invoke(main, [*args, "search", query, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert found in [r["title"] for r in json.loads(result.stdout)]


def digest_text(runner: CliRunner, args: list[str], folder: Path, email: str,
                *options: str) -> str:
    sub = runner.invoke(main, [*args, "subscribe", email, "--topics", "quantum", *options])
    assert sub.exit_code == 0, sub.output
    build = runner.invoke(main, [*args, "digest", "build", "--subscriber", email])
    assert build.exit_code == 0, build.output
    return next((folder / "digests").glob(f"20*/{email}.txt")).read_text(encoding="utf-8")


def test_japanese_only_subscriber_gets_no_chinese(archive) -> None:
    runner, args, folder = archive
    text = digest_text(runner, args, folder, "ja-only@mext.example", "--langs", "ja")
    assert "コネチカット州の量子技術投資について" in text
    assert "量子计算" not in text and "國家科學" not in text and "[中国語]" not in text


def test_japanese_reader_sees_chinese_marked(archive) -> None:
    runner, args, folder = archive
    text = digest_text(runner, args, folder, "all@mext.example")
    assert "中国科学院发布新一代量子计算原型机 [中国語]" in " ".join(text.split())
    assert "コネチカット州の量子技術投資について [" not in text
    assert "在ボストン日本国総領事館 / 在ボストン日本国総領事館管轄 /" in text


def test_english_reader_gets_english_names(archive) -> None:
    runner, args, folder = archive
    text = " ".join(digest_text(runner, args, folder, "office@univ.example",
                                "--ui-lang", "en").split())
    assert ("コネチカット州の量子技術投資について (in Japanese) Consulate-General of Japan in "
            "Boston / Boston consular district /") in text
    assert "(in Chinese) Science News in Chinese /" in text


@pytest.mark.parametrize(
    ("langs", "stored"),
    [("zh,ko", ["zh", "ko"]), ("PT", ["pt"]), ("zh-CN,pt_BR", ["zh", "pt"]),
     ("zh-Hant,zh-TW", ["zh"]), ("xx", None), ("english", None), ("xx-CN", None),
     ("zh-", None)],
    ids=["zh-ko", "upper-case", "region-subtags", "same-primary-once", "not-a-code", "a-name",
         "region-of-no-code", "empty-subtag"])
def test_subscriber_languages_are_iso_639_1(tmp_path: Path, langs: str,
                                            stored: list[str] | None) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("settings:\n  database: relay.db\nfeeds: []\n", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(main, ["--config", str(config), "subscribe", "a@b.example",
                                  "--topics", "quantum", "--langs", langs])
    assert (result.exit_code == 0) is (stored is not None), result.output
    if stored is None:
        assert "is not an ISO 639-1 language code" in result.output
    else:
        subs = json.loads(runner.invoke(main, ["--config", str(config), "subscribers",
                                               "--json"]).stdout)
        assert subs[0]["langs"] == stored


@pytest.mark.parametrize(
    ("tag", "code"),
    [("ja", "ja"), (" EN ", "en"), ("zh-CN", "zh"), ("pt_BR", "pt"), ("zh-Hant-TW", "zh"),
     ("es-419", "es"), ("xx", None), ("xx-CN", None), ("ja-", None), ("eng", None),
     ("", None), ("zh CN", None)],
    ids=["code", "case-and-spaces", "region", "underscore", "script-and-region",
         "numeric-region", "not-a-code", "region-of-no-code", "empty-subtag", "three-letters",
         "empty", "space-inside"])
def test_primary_code_of_a_language_tag(tag: str, code: str | None) -> None:
    assert primary(tag) == code


def test_import_csv_takes_langs(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text("settings:\n  database: relay.db\nfeeds: []\n", encoding="utf-8")
    csv_file = tmp_path / "desks.csv"
    csv_file.write_text("email,topics,langs\nzh-desk@mext.example,quantum,zh ja\n"
                        "bad@mext.example,quantum,zz\n"
                        "br-desk@mext.example,quantum,pt_BR zh-CN\n", encoding="utf-8")
    runner = CliRunner()
    args = ["--config", str(config)]
    result = runner.invoke(main, [*args, "subscribers", "import", str(csv_file)])
    assert result.exit_code == 2
    assert "line 3: 'zz' is not an ISO 639-1 language code" in result.output
    subs = json.loads(runner.invoke(main, [*args, "subscribers", "--json"]).stdout)
    assert {s["email"]: s["langs"] for s in subs} == {"zh-desk@mext.example": ["zh", "ja"],
                                                      "br-desk@mext.example": ["pt", "zh"]}
