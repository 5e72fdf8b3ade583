"""Start-up (issue 12 point 3): how long a person waits for `relay --help`, a shell
completion and `relay status`, as whole processes, beside the floor measured in the same
run (PERFORMANCE.md: compare only figures from one run).

    python benchmarks/startup.py [--runs 15] [--checkout PATH ...]

Each command is run `--runs` times, the commands taking turns (so a burst of load on the
shared machine falls on all of them), and the median wall time is printed with its ratio
to the floor, `python -c 'import click'` (relay's command line cannot start without
click). `python -c pass` is printed too. `relay status` reads a small archive that
`relay demo` makes once in a temporary folder.

`--checkout` (repeatable) runs the relay commands against other source trees too, e.g.
the main branch beside this one (`--checkout ../main --checkout .`): the installed
`relay` script imports the `relay` package of whichever tree PYTHONPATH names.
Targets: `relay --help` and completion <= 0.3 s, `relay status` <= 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOOR = "python -c 'import click'"


def _relay() -> list[str]:
    """The installed `relay` command beside this Python, else `python -m relay`."""
    script = shutil.which("relay", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "relay"]


def _commands(archive: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    relay = _relay()
    config = ["--config", str(archive / "storage" / "demo-feeds.yaml"),
              "--db", str(archive / "storage" / "demo.db")]
    return {
        "relay --help": ([*relay, "--help"], {}),
        "relay feeds --help": ([*relay, "feeds", "--help"], {}),
        "bash completion (relay fe<TAB>)": (relay, {
            "_RELAY_COMPLETE": "bash_complete", "COMP_WORDS": "relay fe", "COMP_CWORD": "1"}),
        "relay status (demo archive)": ([*relay, *config, "status"], {}),
    }


def _time(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--checkout", action="append", type=Path,
                        help="a relay source tree to measure (repeatable; default: this one)")
    args = parser.parse_args()
    trees = [p.resolve() for p in args.checkout or [ROOT]]
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        subprocess.run([*_relay(), "demo", "--dir", str(folder)], check=True, cwd=folder,
                       env={**base, "PYTHONPATH": str(trees[-1])},
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cases: dict[str, tuple[list[str], dict[str, str]]] = {
            "python -c pass": ([sys.executable, "-c", "pass"], base),
            FLOOR: ([sys.executable, "-c", "import click"], base),
        }
        for tree in trees:
            label = f" [{tree.name}]" if len(trees) > 1 else ""
            for name, (command, env) in _commands(folder).items():
                cases[name + label] = (command, {**base, **env, "PYTHONPATH": str(tree)})
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, (command, env) in cases.items():
                times[name].append(_time(command, env))
    floor = statistics.median(times[FLOOR])
    print(f"median of {args.runs} runs, as whole processes ({os.cpu_count()} CPUs)")
    print(f"{'command':48} {'median s':>9} {'x floor':>8}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:48} {median:9.3f} {median / floor:8.1f}")


if __name__ == "__main__":
    main()
