"""fetch_results holds each run's rows as Python objects only while the run is in flight."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from coreclaw_frames.sandbox import serve

HERE = Path(__file__).parent


def measure(srv, slugs, tmp_path):
    slug_file = tmp_path / "slugs.txt"
    slug_file.write_text("\n".join(slugs))
    script = [sys.executable, str(HERE / "results_memory.py"), srv.url, srv.api_key]
    done = subprocess.run(
        [*script, str(slug_file)], capture_output=True, text=True, check=True, cwd=HERE
    )
    return json.loads(done.stdout)


@pytest.mark.slow
def test_peak_memory_growth_stays_within_two_frames(tmp_path):
    with serve() as srv:
        slugs = [r["slug"] for r in srv.account.runs if r["results"] > 0][:3000]
        figures = measure(srv, slugs, tmp_path)
    assert figures["runs"] == 3000 and figures["rows"] > 50_000
    assert figures["growth"] <= 2 * figures["frame"], figures
