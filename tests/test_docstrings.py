"""One docstring style throughout: numpydoc, with every doctest in an ``Examples`` section."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "coreclaw_frames"
#: A Google-style section heading (``Args:``, ``Example:``), which numpydoc spells as a title
#: over a line of dashes.
GOOGLE_SECTION = re.compile(
    r"^\s*(Args|Arguments|Parameters|Returns|Raises|Yields|Attributes|Example|Examples|Note|"
    r"Notes):\s*$",
    re.M,
)
SINGULAR_EXAMPLE = re.compile(r"^\s*Example\n\s*-+\s*$", re.M)
EXAMPLES = re.compile(r"^\s*Examples\n\s*-+\s*$", re.M)


def style_problems(path: Path) -> list[str]:
    problems = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        doc = ast.get_docstring(node)
        if doc is None:
            continue
        name = getattr(node, "name", "the module")
        if GOOGLE_SECTION.search(doc):
            problems.append(f"{name}: a Google-style section")
        if SINGULAR_EXAMPLE.search(doc):
            problems.append(f"{name}: 'Example' where numpydoc says 'Examples'")
        before_examples = EXAMPLES.split(doc, maxsplit=1)[0]
        if re.search(r"^\s*>>>", before_examples, re.M):
            problems.append(f"{name}: a doctest outside the Examples section")
    return problems


def test_every_docstring_is_numpydoc() -> None:
    found = {
        path.relative_to(PACKAGE).as_posix(): style_problems(path)
        for path in sorted(PACKAGE.rglob("*.py"))
    }
    assert {name: problems for name, problems in found.items() if problems} == {}


def test_the_style_check_finds_each_problem(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text(
        'def google():\n    """Doc.\n\n    Args:\n        x: a thing.\n    """\n\n'
        'def bare():\n    """Doc.\n\n    >>> bare()\n    """\n\n'
        'def singular():\n    """Doc.\n\n    Example\n    -------\n    >>> singular()\n    """\n\n'
        'def good():\n    """Doc.\n\n    Examples\n    --------\n    >>> good()\n    """\n'
    )
    assert style_problems(module) == [
        "google: a Google-style section",
        "bare: a doctest outside the Examples section",
        "singular: 'Example' where numpydoc says 'Examples'",
        "singular: a doctest outside the Examples section",
    ]
