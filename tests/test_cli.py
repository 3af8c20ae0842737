"""The coreclaw-frames command: fetch, list, results, sandbox, demo and report (sync: test_sync).

The API subcommands run in-process through `main([...])` against the shared sandbox, with the
key and URL in the environment as a user would set them; a few run as real subprocesses.
"""

import io
import json
import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

import coreclaw_frames as ccf
from coreclaw_frames.cli import _output as output
from coreclaw_frames.cli import build_parser, main
from coreclaw_frames.sandbox import serve

STARTUP_TIMEOUT = 20.0
#: A well-formed slug that no sandbox account holds.
UNKNOWN_SLUG = "01KSFDS8XWTJME33C08XMCR6B9"


# --- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture
def env(monkeypatch, sandbox):
    """The sandbox's URL and key in the environment, as `coreclaw-frames sandbox` prints them."""
    monkeypatch.setenv("CORECLAW_BASE_URL", sandbox.url)
    monkeypatch.setenv("CORECLAW_API_KEY", sandbox.api_key)
    monkeypatch.delenv("CORECLAW_API_VERSION", raising=False)
    return sandbox


@pytest.fixture
def slugs(sandbox):
    return [run["slug"] for run in sandbox.account.runs[:6]]


@pytest.fixture
def client(sandbox):
    with ccf.Client(api_key=sandbox.api_key, base_url=sandbox.url) as active:
        yield active


def write_lines(path, lines, newline="\n"):
    path.write_bytes(newline.join(lines).encode() + newline.encode())
    return path


def assert_one_line_error(capsys, command, *fragments):
    err = capsys.readouterr().err
    assert err.startswith(f"coreclaw-frames {command}: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


def free_port():
    """A loopback port with nothing listening on it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- fetch: inputs ---------------------------------------------------------------------------


def test_fetch_text_file_crlf_case_blanks_comments_duplicates(env, slugs, tmp_path, capsys):
    lines = ["# runs to fetch", slugs[0].lower(), "", f"  {slugs[1]} ", "# again:", slugs[0]]
    source = write_lines(tmp_path / "slugs.txt", [*lines, slugs[2]], newline="\r\n")
    out = tmp_path / "runs.parquet"
    assert main(["fetch", str(source), "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    runs = ccf.read_parquet(out)
    assert runs["slug"].tolist() == slugs[:3]
    assert runs["fetch_error"].isna().all()


@pytest.mark.parametrize(("header", "option"), [("slug", []), ("run", ["--column", "run"])])
def test_fetch_csv_input(env, slugs, tmp_path, header, option):
    rows = [f"title,{header}", *(f"t{i},{slug}" for i, slug in enumerate(slugs[:3])), "t9,"]
    source = write_lines(tmp_path / "runs.csv", rows)
    out = tmp_path / "runs.parquet"
    assert main(["fetch", str(source), *option, "-o", str(out)]) == 0
    assert ccf.read_parquet(out)["slug"].tolist() == slugs[:3]


@pytest.mark.parametrize(
    ("text", "option"),
    [("{0}\n{1}\n{0}\n", []), ("slug\n{0}\n{1}\n", ["--column", "slug"])],
    ids=["lines", "csv"],
)
def test_fetch_from_stdin(env, slugs, tmp_path, monkeypatch, text, option):
    monkeypatch.setattr(sys, "stdin", io.StringIO(text.format(*slugs)))
    out = tmp_path / "runs.parquet"
    assert main(["fetch", "-", *option, "-o", str(out)]) == 0
    assert ccf.read_parquet(out)["slug"].tolist() == slugs[:2]


# --- fetch: outputs --------------------------------------------------------------------------


def test_csv_output_keeps_exact_costs(env, sandbox, client, tmp_path):
    slugs = [run["slug"] for run in sandbox.account.runs[:40]]
    source = write_lines(tmp_path / "slugs.txt", slugs)
    out = tmp_path / "runs.csv"
    assert main(["fetch", str(source), "-o", str(out)]) == 0
    expected = ccf.fetch_runs(slugs, client=client)
    back = pd.read_csv(out, converters={"usage": Decimal})
    assert back["slug"].tolist() == slugs
    assert back["usage"].tolist() == expected["usage"].tolist()
    assert not pd.read_csv(out, dtype=str)["usage"].str.contains("E").any()  # never 0E-10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv", "slugs.txt"]


def test_a_csv_write_that_fails_leaves_the_previous_file_and_no_temporary(
    env, slugs, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "runs.csv"
    out.write_text("slug\nkept\n")

    class HalfWritten:
        def to_csv(self, file, **options):
            file.write("slug\n01KSFDS8")
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(output, "csv_frame", lambda frame: HalfWritten())
    source = write_lines(tmp_path / "slugs.txt", slugs[:2])
    assert main(["fetch", str(source), "-o", str(out)]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert out.read_text() == "slug\nkept\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv", "slugs.txt"]


def test_merge_into_a_file(env, slugs, tmp_path):
    out = tmp_path / "runs.parquet"
    first = write_lines(tmp_path / "first.txt", slugs[:3])
    second = write_lines(tmp_path / "second.txt", slugs[2:])
    assert main(["fetch", str(first), "-o", str(out)]) == 0
    assert main(["fetch", str(second), "-o", str(out), "--merge"]) == 0
    assert ccf.read_parquet(out)["slug"].tolist() == slugs


def test_merge_into_a_partitioned_dataset(env, slugs, client, tmp_path, capsys):
    dataset = tmp_path / "runs"
    ccf.to_parquet(
        ccf.fetch_runs(slugs[:3], client=client), dataset, partition_cols=["scraper_slug"]
    )
    source = write_lines(tmp_path / "slugs.txt", slugs[2:])
    assert main(["fetch", str(source), "-o", str(dataset)]) == 2  # a dataset needs --merge
    assert_one_line_error(capsys, "fetch", "--merge")
    assert len(ccf.read_parquet(dataset)) == 3
    assert main(["fetch", str(source), "-o", str(dataset), "--merge"]) == 0
    merged = ccf.read_parquet(dataset)
    assert sorted(merged["slug"]) == sorted(slugs)
    assert all(part.name.startswith("scraper_slug=") for part in dataset.iterdir())


def test_failed_run_exits_1_and_still_writes(env, slugs, tmp_path, capsys):
    source = write_lines(tmp_path / "slugs.txt", [slugs[0], UNKNOWN_SLUG])
    out = tmp_path / "runs.parquet"
    assert main(["fetch", str(source), "-o", str(out)]) == 1
    assert_one_line_error(capsys, "fetch", "1 of 2 runs failed", UNKNOWN_SLUG)
    runs = ccf.read_parquet(out)
    assert runs["slug"].tolist() == [slugs[0], UNKNOWN_SLUG]
    assert runs["fetch_error"].notna().tolist() == [False, True]


# --- errors: one line, the right status, nothing written -------------------------------------

ERROR_CASES: dict[str, tuple[list[str], dict[str, str | None], int, str]] = {
    "missing key": (["fetch", "{slugs}"], {"CORECLAW_API_KEY": None}, 2, "$CORECLAW_API_KEY"),
    "unreachable host": (["fetch", "{slugs}"], {"CORECLAW_BASE_URL": "{dead}"}, 1, "127.0.0.1"),
    "bad key": (["fetch", "{slugs}"], {"CORECLAW_API_KEY": "wrong"}, 1, "$CORECLAW_API_KEY"),
    "missing input": (["fetch", "{tmp}/nope.txt"], {}, 2, "nope.txt"),
    "bad slugs": (["results", "{bad}"], {}, 2, "'run-1' on line 3"),
    "bad date": (["list", "--since", "2026-13-45"], {}, 2, "--since"),
    "until before since": (
        ["list", "--since", "2026-03-01", "--until", "2026-02-01"],
        {},
        2,
        "until must be after",
    ),
    "unknown extension": (["fetch", "{slugs}", "-o", "{out}/runs.xlsx"], {}, 2, ".parquet"),
    "merge into csv": (["fetch", "{slugs}", "--merge", "-o", "{out}/runs.csv"], {}, 2, "--merge"),
    "column of text": (["fetch", "{slugs}", "--column", "run"], {}, 2, "--column"),
    "missing column": (["fetch", "{csv}", "--column", "run"], {}, 2, "'run'"),
}


@pytest.mark.parametrize("case", ERROR_CASES, ids=list(ERROR_CASES))
def test_errors_are_one_line_and_write_nothing(case, env, slugs, tmp_path, monkeypatch, capsys):
    argv, environment, status, fragment = ERROR_CASES[case]
    places = {
        "slugs": write_lines(tmp_path / "slugs.txt", slugs[:2]),
        "bad": write_lines(tmp_path / "bad.txt", ["# runs", slugs[0], "run-1"]),
        "csv": write_lines(tmp_path / "runs.csv", ["slug", slugs[0]]),
        "dead": f"http://127.0.0.1:{free_port()}",
        "tmp": tmp_path,
        "out": tmp_path / "out",
    }
    (tmp_path / "out").mkdir()
    for name, value in environment.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value.format(**places))
    if "-o" not in argv:
        argv = [*argv, "-o", "{out}/runs.parquet"]
    assert main([arg.format(**places) for arg in argv]) == status
    assert_one_line_error(capsys, argv[0], fragment)
    assert not list((tmp_path / "out").iterdir())


def test_ctrl_c_exits_130_with_one_line(env, slugs, tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ccf, "fetch_runs", interrupted)
    source = write_lines(tmp_path / "slugs.txt", slugs)
    assert main(["fetch", str(source), "-o", str(tmp_path / "runs.parquet")]) == 130
    assert_one_line_error(capsys, "fetch", "interrupted")
    assert not (tmp_path / "runs.parquet").exists()


@pytest.mark.slow
@pytest.mark.parametrize(("input_name", "status"), [("slugs.txt", 0), ("nope.txt", 2)])
def test_subprocess_exit_status_without_traceback(sandbox, slugs, tmp_path, input_name, status):
    write_lines(tmp_path / "slugs.txt", slugs)
    out = tmp_path / "runs.parquet"
    environment = {k: v for k, v in os.environ.items() if k != "CORECLAW_API_VERSION"}
    environment |= {"CORECLAW_BASE_URL": sandbox.url, "CORECLAW_API_KEY": sandbox.api_key}
    command = [sys.executable, "-m", "coreclaw_frames.cli", "fetch", input_name, "-o", str(out)]
    done = subprocess.run(
        command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr
    assert out.exists() == (status == 0)
    if status:
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("coreclaw-frames fetch:")


# --- list, results, report, --version, --help ------------------------------------------------


@pytest.mark.parametrize("options", [[], ["--status", "succeeded", "--max-runs", "30"]])
def test_list_since(env, sandbox, client, tmp_path, options):
    since = (pd.Timestamp(sandbox.account.now, unit="s") - pd.Timedelta(days=20)).date()
    out = tmp_path / "runs.parquet"
    assert main(["list", "--since", str(since), *options, "-o", str(out)]) == 0
    filters: dict[str, Any] = {"status": "succeeded", "max_runs": 30} if options else {}
    expected = ccf.list_runs(since=str(since), client=client, **filters)
    assert len(expected) > 0
    assert ccf.read_parquet(out)["slug"].tolist() == expected["slug"].tolist()


@pytest.mark.parametrize("data_id", [False, True])
def test_results(env, slugs, client, tmp_path, data_id):
    source = write_lines(tmp_path / "slugs.txt", slugs)
    out = tmp_path / "rows.parquet"
    assert main(["results", str(source), "-o", str(out), *(["--data-id"] * data_id)]) == 0
    expected = ccf.fetch_results(slugs, client=client, data_id=data_id)
    rows = ccf.read_parquet(out)
    assert len(rows) == len(expected) > 0
    assert rows["run_slug"].tolist() == expected["run_slug"].tolist()
    assert ("__coreclaw_data_id__" in rows.columns) == data_id


@pytest.mark.usefixtures("charts_without_pixels")
def test_report_on_a_file_written_by_fetch(env, slugs, tmp_path, capsys):
    source = write_lines(tmp_path / "slugs.txt", slugs)
    runs = tmp_path / "runs.parquet"
    html = tmp_path / "report.html"
    assert main(["fetch", str(source), "-o", str(runs)]) == 0
    assert main(["report", str(runs), "-o", str(html)]) == 0
    assert str(html) in capsys.readouterr().out
    assert all(title in html.read_text() for title in ccf.read_parquet(runs)["scraper_title"])


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"coreclaw-frames {ccf.__version__}\n"


@pytest.mark.parametrize("command", ["fetch", "list", "results", "sync"])
def test_help_says_where_the_key_comes_from(command, capsys):
    assert main([command, "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "$CORECLAW_API_KEY only, never from an option" in out
    assert "--api-version" in out
    assert ("current month" in out) == (command == "list")


# --- sandbox, demo and report ----------------------------------------------------------------


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


@pytest.mark.slow
def test_sandbox_subcommand_prints_exports_and_serves_until_ctrl_c():
    command = [sys.executable, "-m", "coreclaw_frames.cli", "sandbox", "--port", "0"]
    with subprocess.Popen(
        [*command, "--runs", "25"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            lines = wait_for_lines(process, 2)
            exports = dict(shlex.split(line)[1].split("=", 1) for line in lines)
            assert [line.split()[0] for line in lines] == ["export", "export"]
            answer = requests.post(
                exports["CORECLAW_BASE_URL"] + "/api/v1/run/list",
                data=json.dumps({"page_index": 1, "page_size": 10}),
                headers={"api-key": exports["CORECLAW_API_KEY"]},
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
    assert_one_line_error(capsys, "sandbox", "fault_rate")


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


@pytest.mark.usefixtures("charts_without_pixels")
@pytest.mark.slow
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_demo_writes_parquet_and_report(tmp_path, capsys, version):
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


@pytest.mark.usefixtures("charts_without_pixels")
def test_report_subcommand(tmp_path, capsys):
    from coreclaw_frames.sandbox import build_account, run_frame

    runs = run_frame(build_account(seed=2, runs=200))
    parquet = ccf.to_parquet(runs, tmp_path / "runs.parquet")
    out = tmp_path / "report.html"
    assert main(["report", str(parquet), "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    assert all(title in out.read_text() for title in runs["scraper_title"].unique())


def test_report_subcommand_names_a_missing_file(tmp_path, capsys):
    missing = tmp_path / "nope.parquet"
    assert main(["report", str(missing), "-o", str(tmp_path / "r.html")]) == 2
    assert_one_line_error(capsys, "report", "nope.parquet")
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("option", ["--api-key", "--key", "--token"])
def test_a_key_passed_as_an_option_is_refused_with_where_it_belongs(option, capsys):
    assert main(["fetch", "slugs.txt", "-o", "runs.parquet", option, "abc"]) == 2
    err = capsys.readouterr().err
    assert "set $CORECLAW_API_KEY" in err and "ps" in err and err.count("\n") == 1


# --- bad targets: exit 2 before any request --------------------------------------------------


@pytest.fixture
def counted(monkeypatch):
    """A sandbox of its own, in the environment, whose counters only this test moves."""
    with serve(runs=30) as srv:
        monkeypatch.setenv("CORECLAW_BASE_URL", srv.url)
        monkeypatch.setenv("CORECLAW_API_KEY", srv.api_key)
        monkeypatch.delenv("CORECLAW_API_VERSION", raising=False)
        yield srv


def runs_and_rows(srv, tmp_path):
    """A runs file and a results file, as fetch and results write them."""
    slugs = [run["slug"] for run in srv.account.runs[:3]]
    with ccf.Client(api_key=srv.api_key, base_url=srv.url) as client:
        runs = ccf.to_parquet(ccf.fetch_runs(slugs, client=client), tmp_path / "runs.parquet")
        rows = ccf.to_parquet(ccf.fetch_results(slugs, client=client), tmp_path / "rows.parquet")
    srv.reset_counters()
    return slugs, runs, rows


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ("missing/runs.parquet", "no directory"),
        ("notes.parquet", "not a Parquet file"),
        ("rows.parquet", "results"),
    ],
    ids=["missing directory", "not parquet", "results file"],
)
def test_sync_into_a_bad_target_exits_2_without_a_request(
    counted, tmp_path, capsys, target, fragment
):
    runs_and_rows(counted, tmp_path)
    (tmp_path / "notes.parquet").write_text("these are my notes\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    status = main(["sync", str(tmp_path / target), "--since", "2026-01-01"])
    assert status == 2
    assert_one_line_error(capsys, "sync", fragment)
    assert counted.counters.total == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    ("argv", "target", "fragment"),
    [
        (["fetch", "{slugs}"], "rows.parquet", "cannot merge runs (fetch, list, sync) into"),
        (["list", "--since", "2026-01-01"], "rows.parquet", "it holds scraped rows (results)"),
        (["results", "{slugs}"], "runs.parquet", "cannot merge scraped rows (results) into"),
        (["results", "{slugs}"], "runs", "it holds runs (fetch, list, sync)"),
    ],
    ids=["fetch into results", "list into results", "results into runs", "results into a dataset"],
)
def test_merge_into_a_file_of_the_other_kind_exits_2_without_a_request(
    counted, tmp_path, capsys, argv, target, fragment
):
    slugs, runs, _ = runs_and_rows(counted, tmp_path)
    ccf.to_parquet(ccf.read_parquet(runs), tmp_path / "runs", partition_cols=["scraper_slug"])
    source = write_lines(tmp_path / "slugs.txt", slugs)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    argv = [arg.format(slugs=source) for arg in argv]
    assert main([*argv, "-o", str(tmp_path / target), "--merge"]) == 2
    assert_one_line_error(capsys, argv[0], fragment)
    assert counted.counters.total == 0
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before


# --- SLUGS: stdin like a file, offenders quoted briefly ---------------------------------------


def test_a_byte_order_mark_on_stdin_is_not_part_of_the_first_slug(
    env, slugs, tmp_path, monkeypatch
):
    monkeypatch.setattr(sys, "stdin", io.StringIO("\ufeff" + "\n".join(slugs[:2]) + "\n"))
    out = tmp_path / "runs.parquet"
    assert main(["fetch", "-", "-o", str(out)]) == 0
    assert ccf.read_parquet(out)["slug"].tolist() == slugs[:2]


def test_a_huge_line_in_a_slug_file_gives_a_short_error_line(env, slugs, tmp_path, capsys):
    huge = "x" * (5 * 1024 * 1024)
    source = write_lines(tmp_path / "slugs.txt", [slugs[0], huge, slugs[1]])
    assert main(["fetch", str(source), "-o", str(tmp_path / "runs.parquet")]) == 2
    err = capsys.readouterr().err
    assert "on line 2" in err and "5,242,880 characters" in err
    assert len(err) < 1000
    assert err.count("\n") == 1


def test_a_huge_csv_header_gives_a_short_error_line(env, tmp_path, capsys):
    source = write_lines(tmp_path / "runs.csv", ["h" * 100_000 + ",other", "x,y"])
    assert main(["fetch", str(source), "-o", str(tmp_path / "runs.parquet")]) == 2
    err = capsys.readouterr().err
    assert "has no column 'slug'" in err and len(err) < 1000


# --- the key never shows ----------------------------------------------------------------------

ECHOED_KEY = "cli-secret-key-2718281828"


@pytest.mark.parametrize("mode", [True, "escaped"])
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_server_echoing_the_key_never_gets_it_on_screen_or_into_files(
    tmp_path, monkeypatch, capsys, mode, version
):
    with serve(runs=300, api_key=ECHOED_KEY, echo_key=mode) as srv:
        monkeypatch.setenv("CORECLAW_BASE_URL", srv.url)
        monkeypatch.setenv("CORECLAW_API_VERSION", version)
        failed = [r["slug"] for r in srv.account.runs if r["err_msg"]][:3]
        source = write_lines(tmp_path / "slugs.txt", [*failed, UNKNOWN_SLUG])
        monkeypatch.setenv("CORECLAW_API_KEY", ECHOED_KEY)
        outputs = [tmp_path / "runs.parquet", tmp_path / "runs.csv"]
        statuses = [main(["fetch", str(source), "-o", str(out)]) for out in outputs]
        statuses.append(main(["list", "--since", "2025-06-01", "-o", str(tmp_path / "l.csv")]))
        monkeypatch.setenv("CORECLAW_API_KEY", "wrong-" + ECHOED_KEY)
        statuses.append(main(["fetch", str(source), "-o", str(tmp_path / "bad.parquet")]))
    shown = capsys.readouterr()
    assert statuses == [1, 1, 0, 1]  # the unknown run failed; the wrong key stopped the batch
    assert "(key ***)" in shown.err  # the server quoted it, and it was taken out
    assert ECHOED_KEY not in shown.out + shown.err
    frame = ccf.read_parquet(outputs[0])
    assert frame["err_msg"].head(3).str.endswith("(key ***)").all()
    assert "(key ***)" in frame["fetch_error"].iloc[3]
    for file in tmp_path.iterdir():
        assert ECHOED_KEY.encode() not in file.read_bytes(), file.name
    assert "(key ***)" in (tmp_path / "runs.csv").read_text()


# --- the sandbox command's history ends now ---------------------------------------------------


@pytest.mark.slow
def test_the_sandbox_command_serves_a_history_that_ends_now(tmp_path, monkeypatch, capsys):
    command = [sys.executable, "-m", "coreclaw_frames.cli", "sandbox", "--port", "0"]
    with subprocess.Popen(
        [*command, "--runs", "300"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            lines = wait_for_lines(process, 2)
            for name, value in (shlex.split(line)[1].split("=", 1) for line in lines):
                monkeypatch.setenv(name, value)
            monkeypatch.delenv("CORECLAW_API_VERSION", raising=False)
            since = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=3)).date()
            out = tmp_path / "recent.parquet"
            assert main(["list", "--since", str(since), "-o", str(out)]) == 0
        finally:
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=STARTUP_TIMEOUT)
    recent = ccf.read_parquet(out)
    assert len(recent) > 0
    assert recent["started_at"].max() > pd.Timestamp(since, tz="UTC")


# --- the documented CSV recipe -----------------------------------------------------------------


def documented_csv_recipe() -> str:
    """The Python block of the command line's page that reads a CSV the command wrote."""
    page = (Path(__file__).parent.parent / "docs" / "cli.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.DOTALL)
    (recipe,) = [block for block in blocks if "pd.read_csv(" in block]
    return recipe


def test_the_documented_csv_recipe_reads_back_a_csv_with_failed_rows(env, sandbox, slugs, tmp_path):
    source = write_lines(tmp_path / "slugs.txt", [*slugs[:3], UNKNOWN_SLUG])
    out = tmp_path / "runs.csv"
    assert main(["fetch", str(source), "-o", str(out)]) == 1  # one failed row, written
    recipe = documented_csv_recipe()
    assert '"runs.csv"' in recipe
    namespace: dict[str, Any] = {}
    exec(recipe.replace('"runs.csv"', repr(str(out))), namespace)
    runs = namespace["runs"]
    with ccf.Client(api_key=sandbox.api_key, base_url=sandbox.url) as client:
        expected = ccf.fetch_runs(slugs[:3], client=client)
    assert runs["usage"].tolist()[:3] == expected["usage"].tolist()
    assert all(isinstance(cost, Decimal) for cost in runs["usage"][:3])
    assert runs["usage"].iloc[3] is None and runs["fetch_error"].notna().iloc[3]
    with pytest.raises(InvalidOperation):  # why a bare Decimal converter is not the recipe
        pd.read_csv(out, converters={"usage": Decimal})
