"""fetch_results over real HTTP against the sandbox, and the results frame itself."""

import pandas as pd
import pyarrow as pa
import pytest

import coreclaw_frames as ccf
from coreclaw_frames._results import results_frame
from coreclaw_frames.sandbox import serve

UNKNOWN = "01KZZZZZZZZZZZZZZZZZZZZZZZ"
SLUG = "01KSFDS8XWTJME33C08XMCR6B9"


def flatten(row, prefix=""):
    out = {}
    for key, value in row.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def same(a, b):
    if isinstance(b, list):
        return list(a) == b if not isinstance(a, list) else a == b
    return (pd.isna(a) and b is None) if b is None else a == b


def pick_runs(account, per_worker=4):
    chosen = []
    for worker in account.workers:
        runs = [r for r in account.runs if r["scraper_slug"] == worker.slug and r["results"] > 0]
        chosen += runs[:per_worker]
    return chosen


def test_rows_of_many_runs_arrive_complete_and_flattened(sandbox):
    runs = pick_runs(sandbox.account)
    with ccf.Client(api_key=sandbox.api_key, base_url=sandbox.url) as client:
        slugs = [r["slug"] for r in runs]
        df = ccf.fetch_results(slugs, client=client, progress=False, data_id=True)
    assert df.columns[0] == "run_slug" and df.columns[-1] == "fetch_error"
    assert df["fetch_error"].isna().all()
    for run in runs:
        count, _, rows = sandbox.account.results(run["slug"], 1, 10_000)
        part = df[df["run_slug"] == run["slug"]].reset_index(drop=True)
        assert len(part) == count == run["results"]
        for i, row in enumerate(rows):
            for column, value in flatten(row).items():
                assert same(part.loc[i, column], value), (run["slug"], i, column)
    assert any("." in c for c in df.columns)  # nested objects became dotted columns


def test_more_than_one_page_per_run(api_version):
    with (
        serve(runs=400) as srv,
        ccf.Client(api_key=srv.api_key, base_url=srv.url, api_version=api_version) as client,
    ):
        big = next(r for r in srv.account.runs if r["results"] > 100)
        df = ccf.fetch_results([big["slug"]], client=client, progress=False)
        assert len(df) == big["results"]
        route = {"v1": "v1 run/result/list", "v2": "v2 worker-runs result"}[api_version]
        assert srv.counters.requests_by_route[route] == -(-big["results"] // 100)


def test_declared_headers_come_first_in_order(sandbox):
    run = pick_runs(sandbox.account, per_worker=1)[0]
    _, headers, _ = sandbox.account.results(run["slug"], 1, 1)
    with ccf.Client(api_key=sandbox.api_key, base_url=sandbox.url) as client:
        df = ccf.fetch_results([run["slug"]], client=client, progress=False)
    roots = []
    for column in df.columns[1:-1]:
        root = column.split(".")[0]
        if not roots or roots[-1] != root:
            roots.append(root)
    declared = [h["key"] for h in headers]
    assert roots[: len(declared)] == declared


def test_dtypes_are_inferred_not_object(sandbox):
    runs = pick_runs(sandbox.account)
    with ccf.Client(api_key=sandbox.api_key, base_url=sandbox.url) as client:
        df = ccf.fetch_results([r["slug"] for r in runs], client=client, progress=False)
    assert not [c for c in df.columns if df[c].dtype == object]
    kinds = {str(t) for t in df.dtypes}
    assert {"Int64", "Float64", "boolean", "string[pyarrow]"} <= kinds
    assert any(str(t).startswith("list<") for t in df.dtypes)


@pytest.mark.parametrize(
    ("api_version", "reason"),
    [("v1", "70001 Run record does not exist"), ("v2", "11004 not found (request_id req-")],
)
def test_failed_run_is_reported_never_dropped(sandbox, api_version, reason):
    good = pick_runs(sandbox.account, per_worker=1)[0]
    with ccf.Client(
        api_key=sandbox.api_key, base_url=sandbox.url, api_version=api_version
    ) as client:
        with pytest.raises(ccf.BatchFetchError, match="1 of") as info:
            ccf.fetch_results([good["slug"], UNKNOWN], client=client, progress=False)
        coerced = ccf.fetch_results(
            [good["slug"], UNKNOWN], client=client, progress=False, errors="coerce"
        )
    frame = info.value.frame
    assert list(info.value.errors["run_slug"]) == [UNKNOWN]
    assert info.value.errors["fetch_error"].iloc[0].startswith(reason)
    assert (frame["run_slug"] == good["slug"]).sum() == good["results"]
    same = ["run_slug", *frame.columns[1:-1]]  # each request has its own request_id
    pd.testing.assert_frame_equal(frame[same], coerced[same])
    assert coerced["fetch_error"].str.startswith(reason).sum() == 1


def test_under_faults_every_row_arrives_exactly_once():
    with serve(runs=200, fault_rate=0.3, retry_after=0, slow_seconds=1.0) as srv:
        runs = [r for r in srv.account.runs if r["results"] > 0][:30]
        with ccf.Client(api_key=srv.api_key, base_url=srv.url, timeout=0.4) as client:
            df = ccf.fetch_results([r["slug"] for r in runs], client=client, progress=False)
        assert df["fetch_error"].isna().all()
        assert df.groupby("run_slug").size().to_dict() == {r["slug"]: r["results"] for r in runs}


def test_bad_input_is_refused_before_any_request(sandbox):
    with ccf.Client(api_key=sandbox.api_key, base_url=sandbox.url) as client:
        before = sandbox.counters.total
        with pytest.raises(TypeError, match="run_slugs must be a list"):
            ccf.fetch_results(SLUG, client=client)
        with pytest.raises(ValueError, match="run_slugs is not a run slug"):
            ccf.fetch_results(["nope"], client=client)
        with pytest.raises(ValueError, match="errors must be"):
            ccf.fetch_results([SLUG], client=client, errors="skip")
        assert sandbox.counters.total == before


def test_results_frame_types_and_mixed_columns():
    df = results_frame(
        [
            (
                SLUG,
                (
                    ["title", "author"],
                    [
                        {"title": "A", "author": {"name": "x", "n": 1}, "score": 1.5, "mixed": 1},
                        {
                            "title": "B",
                            "author": {"name": "y", "n": None},
                            "score": None,
                            "mixed": "two",
                        },
                    ],
                ),
            ),
            (UNKNOWN, "70001 Run record does not exist"),
        ]
    )
    assert list(df.columns) == [
        "run_slug",
        "title",
        "author.name",
        "author.n",
        "score",
        "mixed",
        "fetch_error",
    ]
    assert df["author.n"].dtype == "Int64" and df["score"].dtype == "Float64"
    assert df["title"].dtype == pd.ArrowDtype(pa.string())
    assert df["mixed"].dtype == object and list(df["mixed"][:2]) == [1, "two"]
    assert df.loc[2, "run_slug"] == UNKNOWN and pd.isna(df.loc[2, "title"])


def test_empty_results_frame():
    df = results_frame([])
    assert list(df.columns) == ["run_slug", "fetch_error"] and len(df) == 0


@pytest.mark.parametrize(
    "data",
    [None, {"count": 1}, {"count": 1, "list": ["x"]}, {"count": 2, "list": []}],
)
def test_malformed_or_short_results_are_reported(canned, data, api_version):
    client = canned(data, api_version=api_version)
    df = ccf.fetch_results([SLUG], client=client, errors="coerce", progress=False)
    assert list(df["run_slug"]) == [SLUG]
    assert df.loc[0, "fetch_error"].startswith(
        ("malformed answer to results page 1", f"results of run {SLUG} incomplete")
    )


def test_scraped_keys_named_like_frame_columns_are_renamed_not_misattributed():
    rows = [
        {"run_slug": UNKNOWN, "fetch_error": "scraped text", "title": "A"},
        {"run_slug": "theirs", "scraped": {"run_slug": "nested"}, "title": "B"},
    ]
    failed = (UNKNOWN, "70001 Run record does not exist")
    df = results_frame([(SLUG, (["run_slug", "title"], rows)), failed])
    assert list(df.columns) == [
        "run_slug",
        "scraped.scraped.run_slug",  # "scraped.run_slug" was taken by the nested key
        "title",
        "scraped.fetch_error",
        "scraped.run_slug",
        "fetch_error",
    ]
    assert list(df["run_slug"]) == [SLUG, SLUG, UNKNOWN]
    assert list(df["fetch_error"].isna()) == [True, True, False]
    assert list(df["scraped.scraped.run_slug"][:2]) == [UNKNOWN, "theirs"]
    assert df.loc[0, "scraped.fetch_error"] == "scraped text"
    assert df.loc[1, "scraped.run_slug"] == "nested"
    # The names depend on which keys occur, not on the order rows come in.
    backwards = results_frame([(SLUG, (["run_slug", "title"], rows[::-1])), failed])
    assert set(backwards.columns) == set(df.columns)


def test_scraped_keys_named_like_frame_columns_over_http(monkeypatch):
    with serve(runs=50) as srv:
        runs = pick_runs(srv.account, per_worker=1)[:3]
        results = srv.account.results

        def with_colliding_keys(slug, page_index, page_size):
            count, headers, rows = results(slug, page_index, page_size)
            extra = {"run_slug": UNKNOWN, "fetch_error": "scraped, not failed"}
            return count, headers, [{**row, **extra} for row in rows]

        monkeypatch.setattr(srv.account, "results", with_colliding_keys)
        with ccf.Client(api_key=srv.api_key, base_url=srv.url) as client:
            df = ccf.fetch_results([r["slug"] for r in runs], client=client, progress=False)
    assert df["fetch_error"].isna().all()  # errors="raise" did not raise either
    assert df.groupby("run_slug").size().to_dict() == {r["slug"]: r["results"] for r in runs}
    assert (df["scraped.run_slug"] == UNKNOWN).all()
    assert (df["scraped.fetch_error"] == "scraped, not failed").all()


def test_coreclaw_data_id_is_a_column_only_when_asked_for(sandbox):
    runs = pick_runs(sandbox.account, per_worker=1)
    slugs = [r["slug"] for r in runs]
    assert any("__coreclaw_data_id__" in sandbox.account.results(s, 1, 1)[2][0] for s in slugs)
    with ccf.Client(api_key=sandbox.api_key, base_url=sandbox.url) as client:
        rows = ccf.fetch_results(slugs, client=client, progress=False)
        with_id = ccf.fetch_results(slugs, client=client, progress=False, data_id=True)
    assert "__coreclaw_data_id__" not in rows.columns
    assert "__coreclaw_data_id__" in with_id.columns
    pd.testing.assert_frame_equal(rows, with_id.drop(columns="__coreclaw_data_id__"))
    assert with_id["__coreclaw_data_id__"].notna().any()
