"""What a synced path remembers (server, API version, account, the server's time) and what it
does with a state file that is damaged, another account's key, or a clock that is off."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest

import coreclaw_frames as ccf
from coreclaw_frames._sync import SYNC_MARGIN
from coreclaw_frames._sync_state import STATE_FORMAT, SyncState, state_path
from coreclaw_frames.cli import main
from coreclaw_frames.parquet import to_parquet
from coreclaw_frames.sandbox import STATUS_RUNNING, SandboxServer, build_account, serve

DAY = 86_400
SINCE = "2025-09-01"
OTHER_KEY = "sandbox-key-of-another-account"
NEW_KEY = "sandbox-key-rotated"


def client_of(srv: SandboxServer, key: str | None = None, **options) -> ccf.Client:
    return ccf.Client(api_key=key or srv.api_key, base_url=srv.url, **options)


def sync(path: Path, client: ccf.Client, **kwargs) -> pd.DataFrame:
    return ccf.sync_runs(path, client=client, progress=False, **kwargs)


@pytest.fixture
def two_accounts():
    """One server, two accounts: the default key reads one, OTHER_KEY another, and NEW_KEY
    (a rotated key) the first one again."""
    first = build_account(seed=0, runs=300)
    second = build_account(seed=1, runs=300)
    with serve(account=first, accounts={OTHER_KEY: second, NEW_KEY: first}) as srv:
        yield srv


# --- the account a path holds ----------------------------------------------------------------


def test_a_path_refuses_another_accounts_key_before_any_request(two_accounts, tmp_path: Path):
    path = tmp_path / "runs"
    with client_of(two_accounts) as client:
        first = sync(path, client, since=SINCE, partition_cols=["scraper_slug"])
    before = two_accounts.counters.total
    with client_of(two_accounts, OTHER_KEY) as other:
        with pytest.raises(ValueError, match="holds the runs of the account of another API key"):
            sync(path, other)
    assert two_accounts.counters.total == before
    pd.testing.assert_frame_equal(ccf.read_parquet(path), first)


def test_new_key_of_another_account_is_refused_after_asking_for_a_few_runs(
    two_accounts, tmp_path: Path
):
    path = tmp_path / "runs.parquet"
    with client_of(two_accounts) as client:
        first = sync(path, client, since=SINCE)
    state = state_path(path).read_bytes()
    before = two_accounts.counters.total
    with client_of(two_accounts, OTHER_KEY) as other:
        with pytest.raises(
            ValueError, match=r"does not read the runs stored in .* another account"
        ):
            sync(path, other, new_key=True)
    assert two_accounts.counters.total - before == 3  # KEY_CHECK_RUNS detail requests
    pd.testing.assert_frame_equal(ccf.read_parquet(path), first)
    assert state_path(path).read_bytes() == state


def test_a_rotated_key_of_the_same_account_goes_on_with_new_key(two_accounts, tmp_path: Path):
    path = tmp_path / "runs.parquet"
    with client_of(two_accounts) as client:
        sync(path, client, since=SINCE)
    two_accounts.account.add_runs(4)
    with client_of(two_accounts, NEW_KEY) as rotated:
        with pytest.raises(ValueError, match="new_key=True"):
            sync(path, rotated)
        report = sync(path, rotated, new_key=True).attrs["sync"]
        assert report["added"] == 4
        sync(path, rotated)  # remembered: no new_key needed any more
    with client_of(two_accounts) as old, pytest.raises(ValueError, match="another API key"):
        sync(path, old)


def test_the_command_line_takes_new_key(two_accounts, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("CORECLAW_BASE_URL", two_accounts.url)
    monkeypatch.setenv("CORECLAW_API_KEY", two_accounts.api_key)
    path = str(tmp_path / "runs.parquet")
    assert main(["sync", path, "--since", SINCE]) == 0
    monkeypatch.setenv("CORECLAW_API_KEY", OTHER_KEY)
    capsys.readouterr()
    assert main(["sync", path]) == 2
    err = capsys.readouterr().err
    assert err.startswith("coreclaw-frames sync: ") and "--new-key" in err and err.count("\n") == 1
    assert main(["sync", path, "--new-key"]) == 2
    assert "another account" in capsys.readouterr().err
    monkeypatch.setenv("CORECLAW_API_KEY", NEW_KEY)
    assert main(["sync", path, "--new-key"]) == 0


def test_the_state_remembers_the_account_but_never_the_key(sandbox, tmp_path: Path):
    path = tmp_path / "runs.parquet"
    with client_of(sandbox) as client:
        sync(path, client, since=SINCE)
    text = state_path(path).read_text()
    document = json.loads(text)
    assert document["format"] == STATE_FORMAT
    assert sandbox.api_key not in text
    assert len(document["key_digest"]) == 64 and len(document["key_salt"]) == 32
    # Another path gets another salt: the digests of one key cannot be matched across files.
    with client_of(sandbox) as client:
        sync(tmp_path / "other.parquet", client, since=SINCE)
    other = json.loads(state_path(tmp_path / "other.parquet").read_text())
    assert other["key_digest"] != document["key_digest"]


def test_a_state_of_the_first_format_takes_the_key_of_its_next_sync(sandbox, tmp_path: Path):
    path = tmp_path / "runs.parquet"
    with client_of(sandbox) as client:
        sync(path, client, since=SINCE)
        document = json.loads(state_path(path).read_text())
        old = {k: v for k, v in document.items() if not k.startswith("key_")} | {"format": 1}
        state_path(path).write_text(json.dumps(old))
        sync(path, client)
    document = json.loads(state_path(path).read_text())
    assert document["format"] == STATE_FORMAT and "key_digest" in document
    with client_of(sandbox, "another-key") as other, pytest.raises(ValueError, match="another"):
        sync(path, other)


# --- a damaged state file ----------------------------------------------------------------------

DAMAGED = {
    "null": "null",
    "a number": "7",
    "a list": "[1, 2]",
    "not json": "{not json",
    "text listed_at": {"listed_at": "yesterday"},
    "since null": {"since": None},
    "a bool time": {"synced_at": True},
    "a negative time": {"since": -5},
    "year 58154": {"listed_at": 1_773_000_000_000},
    "no base_url": {"base_url": ...},
    "an unknown field": {"extra": 1},
    "a short digest": {"key_digest": "abc"},
    "format text": {"format": "2"},
}


@pytest.mark.parametrize("damage", DAMAGED, ids=list(DAMAGED))
def test_a_damaged_state_is_refused_naming_the_file_and_what_to_do(
    damage, sandbox, tmp_path: Path, monkeypatch, capsys
):
    path = tmp_path / "runs.parquet"
    with client_of(sandbox) as client:
        sync(path, client, since=SINCE)
        change = DAMAGED[damage]
        if isinstance(change, str):
            state_path(path).write_text(change)
        else:
            document = json.loads(state_path(path).read_text())
            for name, value in change.items():
                if value is ...:
                    del document[name]
                else:
                    document[name] = value
            state_path(path).write_text(json.dumps(document))
        before = sandbox.counters.total
        with pytest.raises(ValueError, match=r"sync state .*\.runs\.parquet\.sync\.json.*Remove"):
            sync(path, client)
        assert sandbox.counters.total == before
    monkeypatch.setenv("CORECLAW_BASE_URL", sandbox.url)
    monkeypatch.setenv("CORECLAW_API_KEY", sandbox.api_key)
    capsys.readouterr()
    assert main(["sync", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("coreclaw-frames sync: the sync state ") and err.count("\n") == 1
    assert "Remove it and sync again" in err and sandbox.counters.total == before


def test_a_state_of_a_newer_version_says_so(sandbox, tmp_path: Path):
    path = tmp_path / "runs.parquet"
    with client_of(sandbox) as client:
        sync(path, client, since=SINCE)
        document = json.loads(state_path(path).read_text())
        state_path(path).write_text(json.dumps({**document, "format": STATE_FORMAT + 1}))
        with pytest.raises(ValueError, match="newer coreclaw-frames"):
            sync(path, client)


def test_a_removed_state_lets_the_sync_start_over_keeping_the_runs(sandbox, tmp_path: Path):
    path = tmp_path / "runs.parquet"
    with client_of(sandbox) as client:
        first = sync(path, client, since=SINCE)
        state_path(path).write_text("7")
        state_path(path).unlink()  # what the message says to do
        again = sync(path, client, since=SINCE)
    assert set(again["slug"]) == set(first["slug"])
    assert SyncState.load(path) is not None


# --- a clock that is off -----------------------------------------------------------------------


@pytest.mark.parametrize("machine_ahead_by", [2 * 3600, -2 * 3600, 30 * DAY])
def test_a_machine_clock_that_is_off_loses_no_run(api_version, machine_ahead_by, tmp_path: Path):
    server_now = int(time.time()) - machine_ahead_by
    account = build_account(runs=400, now=server_now)
    path = tmp_path / "runs.parquet"
    with serve(account=account, clock_offset=-machine_ahead_by) as srv:
        with client_of(srv, api_version=api_version) as client:
            sync(path, client, since=pd.Timestamp(server_now - 200 * DAY, unit="s"))
            created = server_now + 600  # ten minutes after the sync, by the server's clock
            late = account.add_run(created_at=created, status=STATUS_RUNNING)
            account.advance(created + 60)
            srv.clock_offset = created + 60 - time.time()
            report = sync(path, client).attrs["sync"]
            assert abs(client.clock_offset - srv.clock_offset) < 2
    runs = ccf.read_parquet(path)
    assert late["slug"] in set(runs["slug"])
    assert report["added"] == 1
    # The sync lists from shortly before the previous one began, by the server's clock.
    listed = report["listed_since"].timestamp()
    assert server_now - SYNC_MARGIN - 5 <= listed <= server_now - SYNC_MARGIN + 60


# --- a refresh that fails -----------------------------------------------------------------------


def test_a_failed_refresh_keeps_a_stored_flagged_run_and_its_cost(sandbox, tmp_path: Path):
    account = build_account(runs=200)
    path = tmp_path / "runs.parquet"
    with serve(account=account) as srv, client_of(srv) as client:
        first = sync(path, client, since=SINCE)
        # A stored run flagged for one bad value, its cost kept; then the API loses it.
        slug = first.loc[first["usage"].notna(), "slug"].iloc[0]
        flagged = first.copy()
        row = flagged["slug"] == slug
        flagged.loc[row, "traffic"] = pd.NA
        flagged.loc[row, "fetch_error"] = "malformed record: traffic='lots' out of range"
        to_parquet(flagged, path)
        account.remove_runs([slug])
        report = sync(path, client).attrs["sync"]
    kept = ccf.read_parquet(path).set_index("slug").loc[slug]
    assert report["failed"] == 1
    assert kept["usage"] == first.set_index("slug").loc[slug, "usage"]
    assert kept["fetch_error"].startswith("malformed record")
