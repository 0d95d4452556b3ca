"""The command line as a newcomer meets it: help for every option, one clear line and a non-zero exit on errors."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import subprocess

from telecare.cli import build_parser, main


def _options_without_help(parser: argparse.ArgumentParser, path: str) -> list[str]:
    missing: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                missing += _options_without_help(sub, f"{path} {name}")
        elif action.dest != "help" and not action.help:
            missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    return missing


def test_every_option_of_every_command_says_what_it_does() -> None:
    assert _options_without_help(build_parser(), "telecare") == []


async def _telecare(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    """Run the command in-process (importing the whole service per subprocess costs seconds on a busy machine)."""
    out, err = io.StringIO(), io.StringIO()

    def run() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                return main(list(args), overrides={"database_url": database_url, "dev_mode": True})
            except SystemExit as exc:  # argparse refusing the arguments
                return int(exc.code or 0)

    code = await asyncio.to_thread(run)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


async def test_unknown_ids_and_bad_dates_are_refused_in_one_line(database_url: str) -> None:
    cases = [
        (("report", "pack", "--resident", "nobody", "--from", "2024-01-01", "--to", "2024-01-07"),
         "no resident 'nobody'"),
        (("report", "decide", "--resident", "nobody", "--decision", "maintain", "--criteria", "c", "--reviewer",
          "sw", "--follow-up", "2024-06-30"), "no resident 'nobody'"),
        (("report", "nightly", "--org", "no-such-org"), "no organisation 'no-such-org'"),
        (("alerts", "--org", "no-such-org"), "no organisation 'no-such-org'"),
        (("rules", "replay", "--from", "2024-01-02", "--to", "2024-01-01"), "--to must be after --from"),
    ]
    results = [await _telecare(*args, database_url=database_url) for args, _ in cases]
    for (args, expected), result in zip(cases, results, strict=True):
        assert result.returncode == 1, (args, result.stderr)
        assert result.stderr.strip() == f"telecare: error: {expected} in the database" or \
            result.stderr.strip() == f"telecare: error: {expected}", (args, result.stderr)
        assert "Traceback" not in result.stderr and result.stdout == ""
    bad_date = await _telecare("report", "pack", "--resident", "r", "--from", "2024-13-01", "--to", "2024-01-02",
                               database_url=database_url)
    assert bad_date.returncode == 2 and "not a date: '2024-13-01' (write it YYYY-MM-DD)" in bad_date.stderr
    unreachable = await _telecare("alerts", database_url="postgresql://postgres@127.0.0.1:1/nothing")
    assert unreachable.returncode == 1 and len(unreachable.stderr.strip().splitlines()) == 1
    assert "cannot reach a service it needs" in unreachable.stderr


async def test_alerts_are_a_table_for_people_and_json_for_scripts(database_url: str) -> None:
    table = await _telecare("alerts", database_url=database_url)
    as_json = await _telecare("alerts", "--json", database_url=database_url)
    assert table.returncode == as_json.returncode == 0
    assert "alert queue" in table.stdout and "condition" in table.stdout
    assert isinstance(json.loads(as_json.stdout), list)
