"""relay retag applies an edited taxonomy to the archive; search filters by country and
story."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

from click.testing import CliRunner

from relay.cli import main

DATE = format_datetime(datetime.now(UTC))
FEED = f"""<rss version="2.0"><channel><title>w</title><link>https://w.example/</link>
<item><title>Tokamak record at the national lab</title><link>https://w.example/1</link>
<pubDate>{DATE}</pubDate><description>The tokamak held plasma for 20 minutes.</description></item>
<item><title>New bakery opens downtown</title><link>https://w.example/2</link>
<pubDate>{DATE}</pubDate><description>Croissants and sourdough bread.</description></item>
</channel></rss>"""


def test_retag_applies_an_edited_taxonomy(tmp_path, http_server):
    url = http_server.add("/w.xml", FEED)
    config = tmp_path / "feeds.yaml"
    base = (f"settings:\n  database: relay.db\n  fetch: {{host_delay: 0}}\nfeeds:\n"
            f"  - id: w\n    url: {url}\n    country: US\n    allow_private: true\n")
    config.write_text(base, encoding="utf-8")
    runner = CliRunner()
    runner.invoke(main, ["--config", str(config), "collect"])

    def topics() -> dict[str, list[str]]:
        rows = json.loads(runner.invoke(main, ["--config", str(config), "search", "--format",
                                               "json"]).stdout)
        return {r["title"]: r["topics"] for r in rows}

    assert topics()["Tokamak record at the national lab"] == ["fusion"]
    assert topics()["New bakery opens downtown"] == []
    config.write_text(base + """topics:
  - id: fusion
    label: {en: Fusion}
    terms: {en: [tokamak]}
  - id: bakeries
    label: {en: Bakeries}
    terms: {en: [bakery, sourdough bread]}
""", encoding="utf-8")
    result = runner.invoke(main, ["--config", str(config), "retag"])
    assert result.exit_code == 0, result.output
    assert "retagged 2 items" in result.output and "1 changed" in result.output
    assert topics()["New bakery opens downtown"] == ["bakeries"]
    shown = runner.invoke(main, ["--config", str(config), "show", "2"]).output
    assert "topic bakeries (score 3): bakery, sourdough bread" in shown


def test_search_filters_by_country_and_story(tmp_path, http_server):
    url = http_server.add("/w.xml", FEED)
    config = tmp_path / "feeds.yaml"
    config.write_text(f"settings:\n  database: relay.db\n  fetch: {{host_delay: 0}}\nfeeds:\n"
                      f"  - id: w\n    url: {url}\n    country: us\n    allow_private: true\n",
                      encoding="utf-8")
    runner = CliRunner()
    runner.invoke(main, ["--config", str(config), "collect"])

    def search(*args: str) -> list[dict]:
        return json.loads(runner.invoke(main, ["--config", str(config), "search", *args,
                                               "--format", "json"]).stdout)

    assert len(search("--country", "US")) == 2
    assert search("--country", "DE") == []
    story = search("tokamak")[0]["story_id"]
    assert [r["title"] for r in search("--story", str(story))] == [
        "Tokamak record at the national lab"]


PT_FEED = f"""<rss version="2.0"><channel><title>n</title><link>https://n.example/</link>
<language>pt-BR</language>
<item><title>Bolsonaro estaciona na liderança das pesquisas</title>
<link>https://n.example/1</link><pubDate>{DATE}</pubDate>
<description>O candidato continua líder com 28% das intenções de voto.</description></item>
</channel></rss>"""


def test_search_without_lang_finds_every_language_the_archive_holds(tmp_path, http_server):
    en, pt = http_server.add("/w.xml", FEED), http_server.add("/n.xml", PT_FEED)
    config = tmp_path / "feeds.yaml"
    config.write_text(f"settings:\n  database: relay.db\n  fetch: {{host_delay: 0}}\nfeeds:\n"
                      f"  - id: w\n    url: {en}\n    allow_private: true\n"
                      f"  - id: n\n    url: {pt}\n    allow_private: true\n", encoding="utf-8")
    runner = CliRunner()
    runner.invoke(main, ["--config", str(config), "collect"])

    def titles(*args: str) -> list[str]:
        result = runner.invoke(main, ["--config", str(config), "search", *args,
                                      "--format", "json"])
        assert result.exit_code == 0, result.output
        return [r["title"] for r in json.loads(result.stdout)]

    pt_title = "Bolsonaro estaciona na liderança das pesquisas"
    # Portuguese stems (bolsonar, lider, pesquis) with no --lang, as with --lang pt
    assert titles("Bolsonaro") == titles("Bolsonaro", "--lang", "pt") == [pt_title]
    assert titles("liderança pesquisas") == [pt_title]
    assert titles("Bolsonaro", "--lang", "pt_BR") == [pt_title]      # a region subtag
    assert titles("tokamaks") == ["Tokamak record at the national lab"]   # English as before
    assert titles("Bolsonaro", "--lang", "en") == []
    bad = runner.invoke(main, ["--config", str(config), "search", "Bolsonaro", "--lang", "xx"])
    assert bad.exit_code == 2
    assert bad.stderr.strip().splitlines() == [
        "Error: --lang 'xx' is not an ISO 639-1 language code (ja, en, zh, pt, zh-CN, ...)"]
