"""Docs that run: every `sh` block in README.md and docs/*.md is executed, in order, as a reader would.

A block runs as one bash script (`set -euo pipefail`) from the repository root against a database and a
broker of the test's own, and must exit 0. A comment on the line before the fence changes that:

- `<!-- docs-test: runs-until "TEXT" -->`: a service that runs until stopped; it must print TEXT, then is
  interrupted (Ctrl-C) and must stop cleanly;
- `<!-- docs-test: runs-for N -->`: a long measurement; it must still be working (or have finished with 0)
  after N seconds, then is interrupted;
- `<!-- docs-test: skip "REASON" -->`: not run (only `scripts/test.sh`, which is this suite).

Inline commands in the prose (`telecare ...` in backticks) are checked to name real subcommands.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from telecare.cli import build_parser
from telecare.local_broker import LocalBroker, free_port

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A block inside a list item is indented; its marker stands just above it at the same indent.
_FENCE = re.compile(r"(?:<!-- docs-test: (?P<marker>[^>]*) -->\n[ \t]*)?```sh\n(?P<body>.*?)```", re.DOTALL)
_INLINE = re.compile(r"`(telecare [^`]+)`")
DEFAULT_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class Block:
    """One fenced `sh` block and how the test runs it."""

    source: str
    body: str
    marker: str

    def __str__(self) -> str:
        return f"{self.source}: {self.body.strip().splitlines()[0]}"


def documented_blocks() -> list[Block]:
    """Every `sh` block of the docs, README first."""
    blocks: list[Block] = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            line = text[: match.start()].count("\n") + 1
            blocks.append(Block(source=f"{path.relative_to(ROOT)}:{line}", body=match.group("body"),
                                marker=(match.group("marker") or "").strip()))
    return blocks


def _subcommand_exists(words: list[str]) -> bool:
    parser: argparse.ArgumentParser = build_parser()
    for word in words:
        choices = next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if not choices:
            return True
        if word not in choices:
            return False
        parser = choices[word]
    return True


def test_inline_commands_in_the_prose_name_real_subcommands() -> None:
    unknown = []
    for path in DOCS:
        for command in _INLINE.findall(path.read_text(encoding="utf-8")):
            words = command.split()[1:3]
            if not words or not re.fullmatch(r"[a-z][a-z-]*", words[0]):
                continue
            # `telecare dlq list|redrive|discard`: each alternative must exist.
            second = words[1].split("|") if len(words) > 1 and re.fullmatch(r"[a-z|-]+", words[1]) else [""]
            for alternative in second:
                if not _subcommand_exists([words[0], alternative] if alternative else [words[0]]):
                    unknown.append(f"{path.name}: `{command}`")
    assert unknown == []


def _run(block: Block, *, env: dict[str, str], session: str) -> str:
    """Run one block after the reader's earlier `export`s; a failure description, or '' if it kept its promise."""
    script = "set -euo pipefail\n" + session + block.body
    process = subprocess.Popen(["bash", "-c", script], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output: list[str] = []
    marker = block.marker
    until = re.fullmatch(r'runs-until "(.+)"', marker)
    runs_for = re.fullmatch(r"runs-for (\d+)", marker)
    deadline = time.monotonic() + (float(runs_for.group(1)) if runs_for else DEFAULT_TIMEOUT_S)
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: output.extend(iter(process.stdout.readline, "")), daemon=True)
    reader.start()
    while time.monotonic() < deadline and process.poll() is None:
        if until and until.group(1) in "".join(output):
            break
        time.sleep(0.2)
    still_running = process.poll() is None
    if still_running:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    reader.join(timeout=10)
    text = "".join(output)
    tail = "\n".join(text.strip().splitlines()[-15:])
    if until:
        return "" if until.group(1) in text else f"never printed {until.group(1)!r}:\n{tail}"
    if runs_for:
        return "" if still_running or process.returncode == 0 else f"stopped with {process.returncode}:\n{tail}"
    if still_running:
        return f"still running after {DEFAULT_TIMEOUT_S:.0f} s:\n{tail}"
    return "" if process.returncode == 0 else f"exited {process.returncode}:\n{tail}"


def _repository_state() -> set[str]:
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    return set(status.splitlines())


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker of this test's own: the simulators publish retained state that other tests must not receive."""
    broker = LocalBroker(data_dir=tmp_path / "mosquitto", port=free_port())
    broker.start()
    yield broker
    broker.stop()


async def test_every_documented_command_runs(fresh_database_url: str, private_broker: LocalBroker, unique: str,
                                             tmp_path: Path) -> None:
    blocks = documented_blocks()
    assert len(blocks) >= 6, "the docs lost their examples"
    env = {**os.environ, "TELECARE_DATABASE_URL": fresh_database_url, "TELECARE_MQTT_URL": private_broker.url,
           "TELECARE_MQTT_CLIENT_ID": f"docs-{unique}", "TELECARE_API_PORT": str(free_port()),
           "TELECARE_DEV_MODE": "true", "TMPDIR": str(tmp_path), "PATH": os.environ.get("PATH", "")}
    before = _repository_state()
    failures, timings = [], {}
    # A reader follows the docs in one terminal: what an earlier block exported is still set.
    session = ""
    for block in blocks:
        if block.marker.startswith("skip"):
            assert re.fullmatch(r'skip "[^"]{10,}"', block.marker), f"{block}: a skip needs a reason"
            continue
        started = time.monotonic()
        problem = await asyncio.to_thread(_run, block, env=env, session=session)
        timings[str(block)] = round(time.monotonic() - started, 1)
        if problem:
            failures.append(f"{block}\n{problem}")
        session += "".join(line + "\n" for line in block.body.splitlines() if line.startswith("export "))
    print(timings)
    assert failures == [], "\n\n".join(failures)
    assert _repository_state() == before, "documented commands left files in the repository"
