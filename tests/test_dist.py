"""The release artifacts: the wheel carries every file the package reads, and twine passes."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import coreclaw_frames as ccf

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "coreclaw_frames"

pytest.importorskip("build")
pytest.importorskip("twine")


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel, built from this tree (with the installed setuptools)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


def package_files() -> set[str]:
    """Every file of the package in this tree, as the wheel names it."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.mark.slow
def test_the_wheel_carries_every_file_of_the_package(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"coreclaw_frames/report/report.html.jinja", "coreclaw_frames/py.typed"} <= names
    assert package_files() - names == set()


@pytest.mark.slow
def test_the_wheel_has_the_version_and_the_dependencies(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    assert wheel.name == f"coreclaw_frames-{ccf.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        metadata_name = f"coreclaw_frames-{ccf.__version__}.dist-info/METADATA"
        metadata = Parser().parsestr(archive.read(metadata_name).decode())
    assert metadata["Version"] == ccf.__version__
    requires = metadata.get_all("Requires-Dist")
    unconditional = {
        r.split(">")[0].split(";")[0].strip().lower() for r in requires if ";" not in r
    }
    assert "pillow" in unconditional  # the report imports PIL
    assert "ipywidgets" not in unconditional  # a CLI or cron install does not need IPython
    assert any(r.startswith("ipywidgets") and 'extra == "notebook"' in r for r in requires)


@pytest.mark.slow
def test_twine_accepts_the_sdist_and_the_wheel(dist: Path) -> None:
    files = sorted(str(path) for path in dist.iterdir())
    assert len(files) == 2
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
