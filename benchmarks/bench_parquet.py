"""to_parquet / read_parquet on a million runs: overhead over bare pyarrow, and frame memory.

Run: ``.venv/bin/python benchmarks/bench_parquet.py`` (or ``make bench``). The baseline writes and
reads the same Arrow table with ``pyarrow.parquet`` and no pandas at all, so the ratio is the
whole price of typed frames, validation, metadata and atomic replacement.
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))

from _common import report, timed

from coreclaw_frames.parquet import COMPRESSION, read_parquet, to_parquet
from coreclaw_frames.sandbox import build_account, run_frame
from coreclaw_frames.schema import run_arrow_schema

RUNS = 1_000_000
SOURCE_RUNS = 20_000
REPEAT = 3


def build_frame():
    account = build_account(seed=1, runs=SOURCE_RUNS)
    rng = random.Random(0)
    sample = run_frame(account).sample(RUNS, replace=True, random_state=rng.randrange(2**32))
    return sample.reset_index(drop=True)


def bench_round_trip(df, directory: Path) -> None:
    table = pa.Table.from_pandas(df, schema=run_arrow_schema(), preserve_index=False)
    bare_path, ours_path = directory / "bare.parquet", directory / "ours.parquet"

    def bare():
        pq.write_table(table, bare_path, compression=COMPRESSION)
        return pq.read_table(bare_path)

    def ours():
        return read_parquet(to_parquet(df, ours_path))

    bare_time, _ = timed(bare, repeat=REPEAT)
    ours_time, back = timed(ours, repeat=REPEAT)
    assert back.equals(df)
    size = ours_path.stat().st_size / len(df)
    print(
        f"# {RUNS:,} runs: pq.write_table + pq.read_table {bare_time:.2f}s, "
        f"to_parquet + read_parquet {ours_time:.2f}s, {size:.1f} bytes per run on disk"
    )
    report(
        "to_parquet + read_parquet / bare pyarrow (x)",
        ours_time / bare_time,
        "<= 1.3",
        ours_time / bare_time <= 1.3,
    )

    dataset = directory / "runs"
    part_time, _ = timed(
        lambda: read_parquet(to_parquet(df, dataset, partition_cols=["scraper_slug"]))
    )
    files = len(list(dataset.rglob("*.parquet")))
    print(f"# partitioned by scraper_slug ({files} files): write + read {part_time:.2f}s")


def bench_memory(df) -> None:
    per_run = df.memory_usage(deep=True).sum() / len(df)
    report("typed run frame memory (bytes per run)", per_run, "<= 200", per_run <= 200)


if __name__ == "__main__":
    frame = build_frame()
    with tempfile.TemporaryDirectory() as tmp:
        bench_round_trip(frame, Path(tmp))
    bench_memory(frame)
