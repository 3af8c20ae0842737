"""The public surface: ``__all__`` matches reality, and the README's tables match the code."""

import re
from pathlib import Path

import pandas as pd

import coreclaw_frames as ccf
from coreclaw_frames.schema import RUN_COLUMNS

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_all_lists_exactly_the_public_names():
    public = {name for name in vars(ccf) if not name.startswith("_") or name == "__version__"}
    modules = {name for name in public if type(getattr(ccf, name)).__name__ == "module"}
    assert set(ccf.__all__) == public - modules
    assert len(ccf.__all__) == len(set(ccf.__all__))


def test_readme_run_frame_table_matches_the_schema():
    rows = re.findall(r"^\| `(\w+)` \| `([^`]+)` \| (.+?) \|$", README, flags=re.MULTILINE)
    documented = [(name, dtype, text) for name, dtype, text in rows]
    expected = [
        (c.name, str(pd.api.types.pandas_dtype(c.dtype)), c.description) for c in RUN_COLUMNS
    ]
    assert documented == expected


def test_readme_quickstart_is_the_two_commands():
    quickstart = README.split("## Quickstart", 1)[1].split("```")[1]
    assert quickstart.split() == ["make", "demo", "make", "test"]
