"""The coreclaw-frames command: the sandbox subcommand in a real subprocess, and usage errors."""

import json
import queue
import re
import signal
import subprocess
import sys
import threading

import pytest
import requests

from coreclaw_frames.cli import build_parser, main

STARTUP_TIMEOUT = 20.0
URL_PATTERN = re.compile(r"(http://127\.0\.0\.1:\d+)")


def wait_for_lines(process: subprocess.Popen[str], count: int) -> list[str]:
    """The first `count` stdout lines; fails after STARTUP_TIMEOUT instead of hanging."""
    assert process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    stdout = process.stdout

    def read() -> None:
        for _ in range(count):
            lines.put(stdout.readline())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(STARTUP_TIMEOUT)
    assert not reader.is_alive(), "the sandbox did not print its URL and key in time"
    return [lines.get_nowait() for _ in range(count)]


def test_sandbox_subcommand_serves_until_ctrl_c():
    command = [
        sys.executable,
        "-m",
        "coreclaw_frames.cli",
        "sandbox",
        "--port",
        "0",
        "--runs",
        "25",
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            url_line, key_line = wait_for_lines(process, 2)
            match = URL_PATTERN.search(url_line)
            assert match, url_line
            url = match.group(1)
            key = key_line.removeprefix("API key:").strip()
            answer = requests.post(
                url + "/api/v1/run/list",
                data=json.dumps({"page_index": 1, "page_size": 10}),
                headers={"api-key": key},
                timeout=10,
            )
            assert answer.json()["data"]["count"] == 25
        finally:
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=STARTUP_TIMEOUT)
    assert process.returncode == 0, stderr
    assert "Sandbox stopped." in stdout
    assert "Traceback" not in stderr


def test_bad_knob_is_a_usage_error(capsys):
    assert main(["sandbox", "--port", "0", "--fault-rate", "1.5"]) == 2
    assert "fault_rate" in capsys.readouterr().err


def test_no_subcommand_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "sandbox" in capsys.readouterr().err


def test_parser_defaults():
    args = build_parser().parse_args(["sandbox"])
    assert (args.port, args.seed, args.runs, args.latency, args.fault_rate, args.rate_limit) == (
        8765,
        0,
        5000,
        0.0,
        0.0,
        None,
    )


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_demo_writes_parquet_and_report(tmp_path, capsys, version):
    import coreclaw_frames as ccf

    report = tmp_path / "reports" / "cost.html"
    data = str(tmp_path / "data")
    args = ["--data-dir", data, "--report", str(report), "--runs", "300", "--api-version", version]
    status = main(["demo", *args])
    out = capsys.readouterr().out
    assert status == 0
    runs = ccf.read_parquet(tmp_path / "data" / "demo_runs.parquet")
    assert len(runs) == 300 and runs["fetch_error"].isna().all()
    html = report.read_text()
    for title in runs["scraper_title"].unique():
        assert title in out and title in html
    assert f"{runs['usage'].sum():.2f}" in out
    assert str(report) in out


def test_report_subcommand(tmp_path, capsys):
    import coreclaw_frames as ccf
    from coreclaw_frames.sandbox import build_account, run_frame

    runs = run_frame(build_account(seed=2, runs=200))
    parquet = ccf.to_parquet(runs, tmp_path / "runs.parquet")
    out = tmp_path / "report.html"
    assert main(["report", str(parquet), "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    assert all(title in out.read_text() for title in runs["scraper_title"].unique())


def test_report_subcommand_names_a_missing_file(tmp_path, capsys):
    missing = tmp_path / "nope.parquet"
    assert main(["report", str(missing), "-o", str(tmp_path / "r.html")]) == 1
    assert "nope.parquet" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()
