"""The public surface: ``__all__`` matches reality, and the README's tables match the code."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import coreclaw_frames as ccf

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_all_lists_exactly_the_public_names():
    # dir() includes the names imported on first use (the plots and the report).
    public = {name for name in dir(ccf) if not name.startswith("_") or name == "__version__"}
    modules = {name for name in public if type(getattr(ccf, name)).__name__ == "module"}
    assert set(ccf.__all__) == public - modules
    assert len(ccf.__all__) == len(set(ccf.__all__))
    assert ccf.__all__ == sorted(ccf.__all__, key=lambda n: (not n.isupper(), n))


@pytest.mark.slow
def test_importing_the_package_does_not_import_matplotlib():
    code = (
        "import sys, coreclaw_frames as ccf\n"
        "assert 'matplotlib' not in sys.modules, 'imported by the package'\n"
        "ccf.plot_cost\n"
        "assert 'matplotlib' in sys.modules\n"
        "from coreclaw_frames import cost_report\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


HTTP_LIBRARIES = ("requests", "urllib3", "tenacity")


@pytest.mark.slow
@pytest.mark.parametrize(
    "module",
    [
        "coreclaw_frames",
        "coreclaw_frames.parquet",
        "coreclaw_frames.analysis",
        "coreclaw_frames.schema",
        "coreclaw_frames.api",
        "coreclaw_frames.api._values",
    ],
)
def test_modules_that_send_nothing_import_no_http_library(module):
    code = (
        f"import sys, {module}\n"
        f"loaded = [name for name in {HTTP_LIBRARIES!r} if name in sys.modules]\n"
        f"assert not loaded, f'{module} imports {{loaded}}'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_the_api_names_load_on_first_use_and_every_name_is_listed():
    code = (
        "import sys, coreclaw_frames as ccf\n"
        "assert 'requests' not in sys.modules\n"
        "assert callable(ccf.fetch_runs) and ccf.Client.__name__ == 'Client'\n"
        f"assert all(name in sys.modules for name in {HTTP_LIBRARIES!r})\n"
        "from coreclaw_frames import list_runs, sync_runs, AccountInfo\n"
        "from coreclaw_frames.api import HTTPTransport, status_label\n"
        "missing = [name for name in ccf.__all__ if name not in dir(ccf)]\n"
        "assert not missing, missing\n"
        "assert {'Client', 'fetch_runs', 'RetryPolicy', 'sync_runs'} <= set(ccf.__all__)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_an_unknown_name_is_still_an_attribute_error():
    try:
        ccf.plot_everything  # noqa: B018
    except AttributeError as exc:
        assert "plot_everything" in str(exc)
    else:
        raise AssertionError("ccf.plot_everything exists")
    with pytest.raises(AttributeError, match=r"api' has no attribute 'Transport'"):
        ccf.api.Transport  # noqa: B018


def test_readme_quickstart_is_the_two_commands():
    quickstart = README.split("## Quickstart", 1)[1].split("```")[1]
    assert quickstart.split() == ["make", "demo", "make", "test"]


def test_the_version_is_the_changelogs_newest_release():
    changelog = (Path(__file__).parents[1] / "CHANGELOG.md").read_text(encoding="utf-8")
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", changelog, re.M)
    assert ccf.__version__ == releases[0] == "0.2.0"
    assert "## [Unreleased]" in changelog.split(f"## [{releases[0]}]")[0]


def test_the_command_line_prints_the_version():
    result = subprocess.run(
        [sys.executable, "-m", "coreclaw_frames.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert result.stdout == "coreclaw-frames 0.2.0\n"
