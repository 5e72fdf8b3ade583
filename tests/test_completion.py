"""Shell completion as README documents it (click's `_RELAY_COMPLETE` mechanism), through
relay's own group class: the script each shell sources, and the words it completes.
Real bash (and zsh where it is installed) run the installed `relay` command."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RELAY = shutil.which("relay", path=str(Path(sys.executable).parent)) or shutil.which("relay")


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def _run(args: list[str], **env: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, env=_env(**env))
    assert result.returncode == 0, result.stderr
    return result.stdout


needs_relay = pytest.mark.skipif(RELAY is None, reason="the `relay` command is not installed "
                                 "(pip install -e .)")


@needs_relay
@pytest.mark.parametrize(("words", "expected"), [
    (["dig"], ["digest"]),
    (["s"], ["search", "show", "sql", "status", "submit", "subscribe", "subscribers"]),
    (["digest", ""], ["build", "preview", "send"]),
    (["sql", "--c"], ["--csv"]),
])
def test_bash_completes_commands_and_options(words, expected):
    script = _run([str(RELAY)], _RELAY_COMPLETE="bash_source")
    assert "complete -o nosort -F _relay_completion relay" in script
    typed = " ".join(shlex.quote(w) for w in ["relay", *words])
    shell = (f'eval "$(_RELAY_COMPLETE=bash_source {RELAY})"\n'
             f"COMP_WORDS=({typed}); COMP_CWORD={len(words)}\n"
             f'_relay_completion {RELAY}\nprintf "%s\\n" "${{COMPREPLY[@]}}"\n')
    assert _run(["bash", "-c", shell]).split() == expected


@needs_relay
def test_zsh_script_and_answers():
    script = _run([str(RELAY)], _RELAY_COMPLETE="zsh_source")
    assert script.startswith("#compdef relay")
    answer = _run([str(RELAY)], _RELAY_COMPLETE="zsh_complete", COMP_WORDS="relay digest ",
                  COMP_CWORD="2").splitlines()
    assert [answer[i + 1] for i in range(0, len(answer), 3)] == ["build", "preview", "send"]
    zsh = shutil.which("zsh")
    if zsh is None:
        return      # the answers above are what zsh's function reads; no zsh to load it
    registered = _run([zsh, "-fc", "autoload -Uz compinit && compinit -u -D; "
                       f'eval "$(_RELAY_COMPLETE=zsh_source {RELAY})"; '
                       "print -r -- ${_comps[relay]}"])
    assert registered.strip() == "_relay_completion"
