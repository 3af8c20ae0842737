"""Build hooks of the documentation site (``hooks:`` in mkdocs.yml).

* The run frame's column table is generated from ``coreclaw_frames.schema.RUN_COLUMNS``
  wherever a page holds :data:`RUN_COLUMNS_MARKER`, and every command's ``--help`` from the
  command line's parser where a page holds :data:`CLI_HELP_MARKER`, so the pages cannot drift
  from the code.
* The notebooks are taken from ``notebooks/`` as they are committed (with their outputs), so
  they have one home and the site shows what the repository shows. On their pages a link
  from one notebook to another leads to the other's page, and the loader nbconvert adds for
  Mermaid diagrams (none of them has one) is left out: it is the only thing on the site that
  would fetch code from another host.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

from coreclaw_frames.cli import build_parser, main
from coreclaw_frames.schema import RUN_COLUMNS

#: Where a page wants the run frame's column table.
RUN_COLUMNS_MARKER = "<!-- run-columns -->"
#: Where a page wants the ``--help`` of every command.
CLI_HELP_MARKER = "<!-- cli-help -->"
#: The width the help is wrapped to, whatever the terminal that builds the site.
HELP_COLUMNS = "88"
#: nbconvert's loader of Mermaid, which imports it from a CDN when a page has a diagram.
MERMAID_LOADER = re.compile(r'<script type="module">(?:(?!</script>).)*?mermaid.*?</script>', re.S)
#: A link from a notebook to another, as the repository shows it (``your_account.ipynb``).
NOTEBOOK_LINK = re.compile(r'href="([\w-]+)\.ipynb(#[^"]*)?"')
REPOSITORY = Path(__file__).resolve().parents[1]
NOTEBOOKS = "notebooks"


def run_columns_table() -> str:
    """The run frame's columns as a Markdown table: name, pandas dtype, meaning.

    Examples
    --------
    >>> print(run_columns_table().splitlines()[2])
    | `slug` | `string[pyarrow]` | Run slug (26-character ULID). |
    """
    rows = [
        f"| `{column.name}` | `{pd.api.types.pandas_dtype(column.dtype)}` | {column.description} |"
        for column in RUN_COLUMNS
    ]
    return "\n".join(["| column | dtype | meaning |", "|---|---|---|", *rows])


def command_help(*args: str) -> str:
    """What ``coreclaw-frames *args --help`` prints, wrapped to :data:`HELP_COLUMNS`."""
    out = io.StringIO()
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_COLUMNS
    try:
        with contextlib.redirect_stdout(out):
            main([*args, "--help"])
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return out.getvalue().rstrip()


def cli_reference() -> str:
    """A section per command, each its ``--help`` in a code block, the program's own first.

    Examples
    --------
    >>> "### `coreclaw-frames sync`" in cli_reference()
    True
    """
    commands = next(
        action.choices
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    sections = [("coreclaw-frames", command_help())]
    sections += [(f"coreclaw-frames {name}", command_help(name)) for name in commands]
    return "\n\n".join(f"### `{title}`\n\n```text\n{text}\n```" for title, text in sections)


def with_generated_content(markdown: str) -> str:
    """The page's Markdown with every marker replaced by what it stands for.

    Examples
    --------
    >>> "`usage_float`" in with_generated_content("before\\n<!-- run-columns -->\\nafter")
    True
    """
    if RUN_COLUMNS_MARKER in markdown:
        markdown = markdown.replace(RUN_COLUMNS_MARKER, run_columns_table())
    if CLI_HELP_MARKER in markdown:
        markdown = markdown.replace(CLI_HELP_MARKER, cli_reference())
    return markdown


def on_page_markdown(markdown: str, **_: Any) -> str:
    return with_generated_content(markdown)


# Before mkdocs-jupyter's own on_files, which turns the notebooks it finds into pages.
@event_priority(50)
def on_files(files: Files, config: Any) -> Files:
    for notebook in sorted((REPOSITORY / NOTEBOOKS).glob("*.ipynb")):
        files.append(
            File(
                f"{NOTEBOOKS}/{notebook.name}",
                src_dir=str(REPOSITORY),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files


def notebook_page(html: str) -> str:
    """A notebook's page with links to other notebooks made links to their pages, and without
    nbconvert's Mermaid loader.

    Examples
    --------
    >>> notebook_page('<a href="your_account.ipynb">here</a>')
    '<a href="../your_account/">here</a>'
    >>> notebook_page('<p>a</p><script type="module">import("https://cdn/mermaid.mjs")</script>')
    '<p>a</p>'
    """
    html = NOTEBOOK_LINK.sub(lambda link: f'href="../{link[1]}/{link[2] or ""}"', html)
    return MERMAID_LOADER.sub("", html)


def on_post_page(output: str, page: Any, **_: Any) -> str:
    if page.file.src_uri.startswith(f"{NOTEBOOKS}/"):
        return notebook_page(output)
    return output
