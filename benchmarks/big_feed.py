"""One huge feed (issue 10): how long `relay collect` takes, and how much memory it holds,
for one RSS 2.0 document of `--entries` entries served from 127.0.0.1.

    python benchmarks/big_feed.py [--entries 100000] [--max-entries N] [--workers N]

A server on 127.0.0.1 serves the generated document (distinct English titles and
two-sentence descriptions, dated one minute apart, newest last so that "newest first"
means a sort, not the document order); `relay collect` runs in a child process against a
fresh archive, with `settings.fetch.max_bytes` large enough to take the whole document.
Prints the document's size, the wall time, the CPU time of the child and its worker
processes (the figure to compare on a busy machine), the child's peak resident memory
(VmHWM, and less the shared file pages mapped at the end) and how many entries were stored and left over the cap. `--max-entries` sets
`settings.limits.max_entries` (default: relay's own default).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

WORDS = ["quantum", "semiconductor", "satellite", "fusion", "battery", "hydrogen", "genome", "robot", "telescope", "reactor", "vaccine", "lattice", "photon", "neutrino", "graphene", "catalyst", "sensor", "turbine"]

MEASURED = """import sys
from relay.cli import main
try:
    main(args=sys.argv[1:], prog_name="relay")
finally:
    status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    sys.stderr.write("\\nVMHWM_KB=" + status["VmHWM"].split()[0]
                     + " RSSFILE_KB=" + status["RssFile"].split()[0] + "\\n")
"""


def document(entries: int) -> bytes:
    start = datetime.now(UTC) - timedelta(minutes=entries)
    parts = ['<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
             "<title>big</title><link>https://big.example/</link>"]
    for i in range(entries):
        a, b, c = (WORDS[(i * k) % len(WORDS)] for k in (1, 7, 13))
        parts.append(
            f"<item><title>{a.title()} {b} study number {i}</title>"
            f"<link>https://big.example/{i}</link><guid>big-{i}</guid>"
            f"<pubDate>{format_datetime(start + timedelta(minutes=i))}</pubDate>"
            f"<description>Researchers report {a} and {c} results, case {i}. "
            f"The {b} team publishes figure {i * 7}.</description></item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def serve(body: bytes) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/big.xml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--max-entries", type=int, default=None)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    body = document(args.entries)
    server, url = serve(body)
    with tempfile.TemporaryDirectory() as tmp:
        lines = ["settings:", "  database: relay.db",
                 f"  fetch: {{max_bytes: {len(body) + 1024}, timeout: 600}}"]
        if args.workers is not None:
            lines.append(f"  workers: {args.workers}")
        if args.max_entries is not None:
            lines.append(f"  limits: {{max_entries: {args.max_entries}}}")
        lines += ["feeds:", f"  - {{id: big, url: '{url}', allow_private: true}}"]
        config = Path(tmp) / "feeds.yaml"
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        started = time.monotonic()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run([sys.executable, "-c", MEASURED, "--config", str(config),
                               "collect", "--json"], capture_output=True, text=True, cwd=tmp)
        elapsed = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    server.shutdown()
    if proc.returncode not in (0, 1):
        sys.exit(proc.stderr)
    tail = proc.stderr.rsplit("VMHWM_KB=", 1)[1].split()
    peak = int(tail[0]) // 1024
    # less the file pages mapped at the end: the Sudachi dictionary's, shared with the
    # page cache (see tests/test_hostile.py)
    private = peak - int(tail[1].removeprefix("RSSFILE_KB=")) // 1024
    (report,) = json.loads(proc.stdout)
    print(f"{args.entries:,} entries, {len(body) / 1e6:.1f} MB: {elapsed:.1f} s, {cpu:.1f} s CPU, "
          f"peak {peak} MB resident ({private} MB without shared file pages); "
          f"new {report['new']}, over the cap "
          f"{report.get('over_cap', 'n/a')}, error {report['error']}")


if __name__ == "__main__":
    main()
