"""The README's command sessions as data, a shell to run them in, and the rule that compares outputs.

A session is a ```console block: `$ command` lines, each followed by the output the README promises,
and `# comment` lines. The sessions are run in order, in one bash (exports carry on from one to the
next, as in a reader's terminal), from the repository's root, against a live `make run`.

What a reader does outside the shell is written as a comment or as a value the reader pastes:

- `$ export NAME=…   # where it comes from` : the reader copies a value from a page or from the
  output above. `# the <field> above` takes that field of the previous command's JSON output;
  any other comment names a step the test performs the way the reader would (tests/project/test_readme.py,
  over HTTP, as that person).
- `# after <something done in a page>:` on its own line: the same, before the next command.

Outputs are compared line by line, after the server's address is put in place of 127.0.0.1:8000:
`…` in the README stands for any text; timestamps, `exp`/`iat`/`auth_time` and device user codes
vary from run to run and are compared as their kind. When the README shows headers (`-D -`),
each header it shows must be among the ones sent (curl prints the generic ones too).
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

README_ADDRESS = "127.0.0.1:8000"
PLACEHOLDER = "…"
PLACEHOLDER_EXPORT = re.compile(r"^export ((?:[A-Z_][A-Z0-9_]*=… ?)+)\s*#\s*(.+)$")


@dataclass
class Step:
    """A command and the output the README promises for it; or, with no command, a step done elsewhere."""

    line: int
    command: str | None
    expected: list[str] = field(default_factory=list)
    comment: str = ""

    @property
    def placeholders(self) -> list[str]:
        """The variables a `export NAME=…  # ...` line asks the reader to fill in."""
        match = PLACEHOLDER_EXPORT.match(self.command or "")
        return [part.split("=")[0] for part in match.group(1).split()] if match else []


def sessions(text: str) -> list[list[Step]]:
    """Every ```console block of `text`, as steps, in order."""
    found: list[list[Step]] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].strip() != "```console":
            index += 1
            continue
        steps: list[Step] = []
        index += 1
        while index < len(lines) and lines[index].strip() != "```":
            line = lines[index]
            if line.startswith("$ "):
                command = line[2:]
                comment = command.split(" # ", 1)[1].strip() if " # " in command else ""
                steps.append(Step(line=index + 1, command=command, comment=comment))
            elif line.startswith("# "):
                steps.append(Step(line=index + 1, command=None, comment=line[2:].strip()))
            elif steps and steps[-1].command is not None:
                steps[-1].expected.append(line)
            elif line.strip():
                raise ValueError(f"README line {index + 1}: output with no command before it: {line!r}")
            index += 1
        for step in steps:
            while step.expected and not step.expected[-1].strip():
                step.expected.pop()
        found.append(steps)
        index += 1
    return found


class Shell:
    """One bash, fed a command at a time; what it prints (stdout and stderr) is read back."""

    MARK = "@@@readme-step-done@@@"

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            ["bash", "--norc", "--noprofile"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def run(self, command: str, timeout: float = 120) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{command}\nprintf '\\n{self.MARK}\\n'\n".encode())
        self.process.stdin.flush()
        out = b""
        deadline = time.monotonic() + timeout
        marker = f"\n{self.MARK}\n".encode()
        while marker not in out:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.process.stdout], [], [], left)[0]:
                raise TimeoutError(f"{command!r} did not finish in {timeout} s; so far: {out!r}")
            chunk = os.read(self.process.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError(f"the shell ended during {command!r}: {out!r}")
            out += chunk
        return out[: out.index(marker)].decode(errors="replace")

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=10)


# --- Comparing an output with the README's


_VARYING = [
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)"), "<time>"),
    (re.compile(r'"(exp|iat|auth_time)": ?\d+'), r'"\1": <n>'),
    (re.compile(r"\b[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}\b"), "<user code>"),
]


def normalise(line: str) -> str:
    for pattern, replacement in _VARYING:
        line = pattern.sub(replacement, line)
    return line.rstrip()


def line_matches(expected: str, actual: str) -> bool:
    """Whether `actual` is `expected` with each `…` standing for any text."""
    pattern = ".*?".join(re.escape(part) for part in normalise(expected).split(PLACEHOLDER))
    return re.fullmatch(pattern, normalise(actual)) is not None


def _split_headers(lines: list[str]) -> tuple[list[str], list[str]]:
    if not lines or not lines[0].startswith("HTTP/"):
        return [], lines
    end = lines.index("") if "" in lines else len(lines)
    return lines[:end], lines[end + 1 :]


def differences(expected: list[str], output: str) -> list[str]:
    """What in `output` does not match the README's `expected` lines (empty: it matches)."""
    actual = [line.rstrip("\r") for line in output.replace("\r\n", "\n").split("\n")]
    while actual and not actual[-1].strip():
        actual.pop()
    problems: list[str] = []
    want_headers, want_body = _split_headers(expected)
    got_headers, got_body = _split_headers(actual)
    if want_headers:
        if not got_headers or not line_matches(want_headers[0], got_headers[0]):
            problems.append(f"status: README {want_headers[0]!r}, got {got_headers[:1]}")
        for header in want_headers[1:]:
            if not any(line_matches(header, got) for got in got_headers[1:]):
                problems.append(f"header missing: {header!r} (got {got_headers[1:]})")
    if len(want_body) != len(got_body):
        problems.append(f"README shows {len(want_body)} lines, got {len(got_body)}: {got_body!r}")
    for want, got in zip(want_body, got_body, strict=False):
        if not line_matches(want, got):
            problems.append(f"README: {want}\n     got: {got}")
    return problems


def json_field(output: str, name: str) -> str:
    """`name` of the JSON object an output printed (for `# the <name> above`)."""
    value = json.loads(output)[name]
    return value if isinstance(value, str) else json.dumps(value)
