"""The public surface: ``__all__`` matches reality, and the README's tables match the code."""

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

import coreclaw_frames as ccf
from coreclaw_frames.schema import RUN_COLUMNS

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_all_lists_exactly_the_public_names():
    # dir() includes the names imported on first use (the plots and the report).
    public = {name for name in dir(ccf) if not name.startswith("_") or name == "__version__"}
    modules = {name for name in public if type(getattr(ccf, name)).__name__ == "module"}
    assert set(ccf.__all__) == public - modules
    assert len(ccf.__all__) == len(set(ccf.__all__))
    assert ccf.__all__ == sorted(ccf.__all__, key=lambda n: (not n.isupper(), n))


def test_importing_the_package_does_not_import_matplotlib():
    code = (
        "import sys, coreclaw_frames as ccf\n"
        "assert 'matplotlib' not in sys.modules, 'imported by the package'\n"
        "ccf.plot_cost\n"
        "assert 'matplotlib' in sys.modules\n"
        "from coreclaw_frames import cost_report\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_an_unknown_name_is_still_an_attribute_error():
    try:
        ccf.plot_everything  # noqa: B018
    except AttributeError as exc:
        assert "plot_everything" in str(exc)
    else:
        raise AssertionError("ccf.plot_everything exists")


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
