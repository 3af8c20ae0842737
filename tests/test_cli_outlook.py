"""`coreclaw-frames outlook` (exit 3 over the budget) and `report --budget --balance`.

Run in-process through `main([...])`; `--balance` asks the shared sandbox, its URL and key in
the environment as a user would set them.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

import coreclaw_frames as ccf
from coreclaw_frames.cli import EXIT_OVER_BUDGET, main
from coreclaw_frames.display import usd
from coreclaw_frames.sandbox import EXPIRED_API_KEY, build_account, run_frame

NOW = "2026-03-16T12:00"  # half a day after the sandbox account's clock


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    return run_frame(build_account(seed=0, runs=3000))


@pytest.fixture
def parquet(runs: pd.DataFrame, tmp_path: Path) -> Path:
    return ccf.to_parquet(runs, tmp_path / "runs.parquet")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, sandbox):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CORECLAW_BASE_URL", sandbox.url)
    monkeypatch.setenv("CORECLAW_API_KEY", sandbox.api_key)
    monkeypatch.delenv("CORECLAW_API_VERSION", raising=False)
    return sandbox


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CORECLAW_API_KEY", "CORECLAW_BASE_URL", "CORECLAW_API_VERSION"):
        monkeypatch.delenv(name, raising=False)


def one_line_error(capsys: pytest.CaptureFixture[str], *fragments: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith("coreclaw-frames outlook: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_prints_the_outlook_and_exits_0_within_the_budget(
    runs: pd.DataFrame, parquet: Path, capsys: pytest.CaptureFixture[str], no_key: None
) -> None:
    outlook = ccf.spend_outlook(runs, now=NOW)
    assert outlook.projected_high is not None
    budget = str(outlook.projected_high + 1)
    assert main(["outlook", str(parquet), "--now", NOW, "--budget", budget]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Spend outlook for 2026-03 (UTC), at 2026-03-16 12:00 UTC")
    assert usd(outlook.projected) in out and "within it" in out
    assert main(["outlook", str(parquet), "--now", NOW]) == 0  # no budget: nothing to exceed
    assert "Budget" not in capsys.readouterr().out


def test_exits_3_when_the_projection_exceeds_the_budget(
    runs: pd.DataFrame, parquet: Path, capsys: pytest.CaptureFixture[str], no_key: None
) -> None:
    outlook = ccf.spend_outlook(runs, now=NOW)
    assert outlook.projected is not None
    budget = outlook.projected - 1  # above the spend so far, below the projection
    assert budget > outlook.month_to_date
    status = main(["outlook", str(parquet), "--now", NOW, "--budget", f"${budget:,.2f}"])
    assert status == EXIT_OVER_BUDGET == 3
    captured = capsys.readouterr()
    assert "OVER: projected" in captured.out
    assert captured.err == (
        f"coreclaw-frames outlook: over budget: {usd(outlook.projected)} projected in 2026-03, "
        f"budget {usd(Decimal(f'{budget:.2f}'))}\n"
    )


def test_exits_3_when_the_budget_is_spent_already(
    parquet: Path, capsys: pytest.CaptureFixture[str], no_key: None
) -> None:
    assert main(["outlook", str(parquet), "--now", NOW, "--budget", "1"]) == 3
    one_line_error(capsys, "spent already in 2026-03, budget $1.00")


def test_balance_from_the_api(
    runs: pd.DataFrame, parquet: Path, env, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    account = env.account
    assert main(["outlook", str(parquet), "--now", NOW, "--balance"]) == 0
    out = capsys.readouterr().out
    info = ccf.AccountInfo(
        Decimal(account.balance),
        pd.Timestamp(account.balance_expiration_at, unit="s", tz="UTC"),
        None,
        pd.NaT,
    )
    outlook = ccf.spend_outlook(runs, now=NOW, balance=info)
    assert usd(Decimal(account.balance)) in out
    assert "expires 2027-03-16 00:00 UTC" in out
    runway, why = outlook.runway_text()
    assert runway in out and why in out


def test_balance_needs_the_key_before_any_request(
    parquet: Path, capsys: pytest.CaptureFixture[str], no_key: None
) -> None:
    assert main(["outlook", str(parquet), "--balance"]) == 2
    one_line_error(capsys, "CORECLAW_API_KEY")


def test_a_balance_the_api_refuses_is_a_failure(
    parquet: Path, env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CORECLAW_API_KEY", EXPIRED_API_KEY)
    assert main(["outlook", str(parquet), "--balance", "--budget", "1"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("coreclaw-frames outlook: ") and "CORECLAW_API_KEY" in err


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        (["--budget", "lots"], "expected dollars"),
        (["--budget", "-5"], "expected dollars"),
        (["--budget", "NaN"], "expected dollars"),
        (["--now", "soonish"], "not a time: 'soonish'"),
    ],
)
def test_bad_options_are_usage_errors(
    parquet: Path,
    arguments: list[str],
    fragment: str,
    capsys: pytest.CaptureFixture[str],
    no_key: None,
) -> None:
    assert main(["outlook", str(parquet), *arguments]) == 2
    err = capsys.readouterr().err
    assert err.startswith("coreclaw-frames outlook: ") and fragment in err, err


def test_a_missing_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_key: None
) -> None:
    assert main(["outlook", str(tmp_path / "nope.parquet"), "--budget", "10"]) == 2
    one_line_error(capsys, "nope.parquet")


def test_now_takes_unix_seconds(
    parquet: Path, capsys: pytest.CaptureFixture[str], no_key: None
) -> None:
    assert main(["outlook", str(parquet), "--now", "1773662400"]) == 0
    assert "at 2026-03-16 12:00 UTC" in capsys.readouterr().out


@pytest.mark.usefixtures("charts_without_pixels")
def test_report_takes_the_budget_and_the_balance(
    parquet: Path, tmp_path: Path, env, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "report.html"
    options = ["--budget", "1", "--balance", "--now", NOW]
    assert main(["report", str(parquet), "-o", str(out), *options]) == 0
    text = out.read_text(encoding="utf-8")
    outlook = text.split("<h2>Outlook</h2>", 1)[1].split("</section>", 1)[0]
    assert "Budget" in outlook and "$1.00" in outlook and " alert" in outlook
    assert "Runway" in outlook and usd(Decimal(env.account.balance)) in outlook
    assert main(["report", str(parquet), "-o", str(out), "--budget", "x"]) == 2
