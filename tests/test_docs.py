"""The documentation site builds without a warning, follows the code, and loads nothing remote."""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from coreclaw_frames.schema import RUN_COLUMNS

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"

pytest.importorskip("mkdocs")
sys.path.insert(0, str(DOCS))
import _griffe_docstrings  # noqa: E402  (docs/_griffe_docstrings.py, how docstrings render)
import _hooks  # noqa: E402  (docs/_hooks.py, the site's build hooks)

#: What a browser fetches when it shows a page: scripts, styles, images, frames, fonts.
LOADED = re.compile(
    r"""<(?:script|img|iframe|source|audio|video|embed)\b[^>]*\bsrc=["']([^"']+)"""
    r"""|<link\b[^>]*\bhref=["']([^"']+)"""
    r"""|@import\s+(?:url\()?["']?([^"')\s]+)"""
    r"""|url\(["']?([^"')]+)"""
    r"""|\bimport\(\s*["']([^"']+)""",
    re.IGNORECASE,
)
REMOTE = re.compile(r"^(?:https?:)?//", re.IGNORECASE)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built as `make docs` builds it: strict, so any warning fails the build."""
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    return out


def page(site: Path, name: str) -> str:
    return (site / name / "index.html").read_text(encoding="utf-8")


def remote_loads(text: str) -> list[str]:
    urls = [next(group for group in match if group) for match in LOADED.findall(text)]
    return [url for url in urls if REMOTE.match(url)]


@pytest.mark.parametrize("module", [_hooks, _griffe_docstrings], ids=lambda m: m.__name__)
def test_the_examples_of_the_build_code_hold(module: object) -> None:
    failed, tried = doctest.testmod(module)  # type: ignore[arg-type]
    assert tried > 0 and failed == 0


def test_the_column_table_is_generated_from_the_schema() -> None:
    rows = _hooks.run_columns_table().splitlines()[2:]
    expected = [
        f"| `{c.name}` | `{pd.api.types.pandas_dtype(c.dtype)}` | {c.description} |"
        for c in RUN_COLUMNS
    ]
    assert rows == expected


def test_the_markers_are_replaced() -> None:
    markdown = f"a\n{_hooks.RUN_COLUMNS_MARKER}\nb\n{_hooks.CLI_HELP_MARKER}\n"
    generated = _hooks.with_generated_content(markdown)
    assert "<!--" not in generated
    assert "| `slug` |" in generated and "usage: coreclaw-frames sync" in generated


@pytest.mark.slow
def test_the_site_builds_strictly_with_every_page(site: Path) -> None:
    for name in (
        "quickstart",
        "fetching",
        "reliability",
        "run-frame",
        "parquet",
        "results",
        "plots",
        "outlook",
        "cli",
        "sandbox",
        "benchmarks",
        "changelog",
        "reference/fetching",
        "reference/sandbox",
    ):
        assert (site / name / "index.html").is_file(), name


@pytest.mark.slow
def test_the_run_frame_page_lists_every_column_with_its_dtype(site: Path) -> None:
    html = page(site, "run-frame")
    for column in RUN_COLUMNS:
        dtype = str(pd.api.types.pandas_dtype(column.dtype))
        assert f"<td><code>{column.name}</code></td>\n<td><code>{dtype}</code></td>" in html


@pytest.mark.slow
def test_the_cli_page_has_every_command(site: Path) -> None:
    html = page(site, "cli")
    for command in ("fetch", "list", "results", "sync", "sandbox", "demo", "report", "outlook"):
        assert f"usage: coreclaw-frames {command}" in html


@pytest.mark.slow
def test_the_reference_shows_no_sphinx_role_as_written(site: Path) -> None:
    for path in (site / "reference").glob("*/index.html"):
        assert re.findall(r":(?:func|class|data|meth|mod|attr):", path.read_text()) == [], path


@pytest.mark.slow
def test_the_notebooks_are_pages_with_their_outputs(site: Path) -> None:
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        html = page(site, f"notebooks/{notebook.stem}")
        assert "data:image/png;base64," in html, notebook.name  # the committed charts


@pytest.mark.slow
def test_links_on_the_notebook_pages_lead_to_built_pages(site: Path) -> None:
    for path in (site / "notebooks").glob("*/index.html"):
        links = re.findall(r'href="(?![a-z]+:)([^"#]+)', path.read_text(encoding="utf-8"))
        missing = [link for link in links if not (path.parent / link).exists()]
        assert missing == [], path.parent.name


@pytest.mark.slow
def test_sources_under_docs_are_not_pages(site: Path) -> None:
    built = {path.relative_to(site).as_posix() for path in site.rglob("*")}
    assert not [name for name in built if "_hooks" in name]


@pytest.mark.slow
def test_nothing_is_loaded_from_another_host(site: Path) -> None:
    loaded = {
        path.relative_to(site).as_posix(): remote_loads(path.read_text(encoding="utf-8"))
        for path in site.rglob("*")
        if path.suffix in {".html", ".css"}
    }
    assert {name: urls for name, urls in loaded.items() if urls} == {}


def test_remote_loads_are_recognised() -> None:
    html = (
        '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">'
        '<script src="//cdn.example/x.js"></script><a href="https://example.com">a link</a>'
        '<img src="data:image/png;base64,AAAA"><link href="../assets/main.css" rel="stylesheet">'
    )
    assert remote_loads(html) == [
        "https://fonts.googleapis.com/css?family=Roboto",
        "//cdn.example/x.js",
    ]
    assert remote_loads("@import url('https://fonts.example/a.css');") == [
        "https://fonts.example/a.css"
    ]
    assert remote_loads('await import("https://cdn.example/m.mjs")') == [
        "https://cdn.example/m.mjs"
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("page", "heading"),
    [("quickstart.md", "## Ten lines on the sandbox"), ("../README.md", "## In ten lines")],
)
def test_the_sandbox_example_runs(
    page: str,
    heading: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    charts_without_pixels: None,
) -> None:
    text = (DOCS / page).read_text(encoding="utf-8")
    example = text.split(heading, 1)[1].split("```python", 1)[1].split("```", 1)[0]
    assert len([line for line in example.splitlines() if line.strip()]) <= 12
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(example, f"docs/{page}", "exec"), namespace)
    runs = namespace["runs"]
    assert isinstance(runs, pd.DataFrame) and len(runs) == 5000
    assert (tmp_path / "runs.parquet").is_file() and (tmp_path / "cost_report.html").is_file()
