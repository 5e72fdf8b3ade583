"""The HTML digest in a real headless browser (Debian's Chromium): at 600 px and at the
narrowest width headless Chromium lays out (about 500 px; a phone's 375 px is asked for)
nothing overflows and every headline is visible; screenshots are saved under
test-artifacts/ for a person to look at.

Skipped when Chromium is not installed, unless RELAY_REQUIRE_BROWSER=1 (CI sets it and
installs chromium and fonts-noto-cjk)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
PROBE = """<script>
window.addEventListener('load', () => {
  const width = document.documentElement.scrollWidth;
  const links = [...document.querySelectorAll('h2 ~ div > a, h2 ~ div > span')];
  const hidden = links.filter(a => { const r = a.getBoundingClientRect();
    return r.width === 0 || r.height === 0 || r.right > window.innerWidth + 1; }).length;
  document.title = `probe width=${width} viewport=${window.innerWidth} ` +
    `headlines=${links.length} hidden=${hidden}`;
});
</script>"""


@pytest.fixture(scope="module")
def digests(tmp_path_factory) -> list[Path]:
    if CHROMIUM is None:
        if os.environ.get("RELAY_REQUIRE_BROWSER") == "1":
            pytest.fail("RELAY_REQUIRE_BROWSER=1 but no chromium on PATH")
        pytest.skip("Chromium is not installed (apt-get install chromium fonts-noto-cjk)")
    work = tmp_path_factory.mktemp("demo")
    subprocess.run([sys.executable, "-m", "relay", "demo"], cwd=work, check=True,
                   capture_output=True, timeout=120)
    return sorted(work.glob("digests/20*/*.html"))


def _chromium(args: list[str], profile: Path) -> str:
    result = subprocess.run([CHROMIUM or "chromium", *FLAGS, f"--user-data-dir={profile}",
                             *args], capture_output=True, text=True, timeout=90)
    return result.stdout


@pytest.mark.parametrize("width", [600, 375], ids=["desktop-600", "narrowest"])
def test_digest_fits_and_shows_every_headline(digests, tmp_path, width):
    assert len(digests) == 2
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    for page in digests:
        probed = tmp_path / page.name
        probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
                          encoding="utf-8")
        dom = _chromium([f"--window-size={width},2000", "--virtual-time-budget=3000",
                         "--dump-dom", probed.as_uri()], tmp_path / "profile")
        m = re.search(r"probe width=(\d+) viewport=(\d+) headlines=(\d+) hidden=(\d+)", dom)
        assert m, f"the probe did not run in {page.name}"
        scroll, viewport, headlines, hidden = map(int, m.groups())
        # Headless Chromium will not lay out narrower than about 500 px: the viewport it
        # gives is the width checked.
        assert viewport <= max(width, 500) and scroll <= viewport, (page.name, scroll, viewport)
        assert headlines >= 3 and hidden == 0, (page.name, headlines, hidden)
        shot = artifacts / f"{page.stem}-{width}.png"
        _chromium([f"--window-size={width},1600", f"--screenshot={shot}", page.as_uri()],
                  tmp_path / "profile")
        assert shot.exists() and shot.stat().st_size > 10_000
