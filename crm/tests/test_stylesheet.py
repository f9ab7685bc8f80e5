"""static/css/app.css stays well-formed: every rule closed, every token defined, contents true.

A browser forgives a missing brace silently: with CSS nesting, every rule after it becomes a
descendant of the unclosed rule and stops applying (the board's "Load more" link and the
passkey list were unstyled that way). These checks read the file as text, so they fail
before a page looks wrong.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

STYLESHEET = Path(settings.BASE_DIR) / "static" / "css" / "app.css"


def without_comments_and_strings(css: str) -> str:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    return re.sub(r"\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'", '""', css)


def nesting_problems(css: str) -> list[str]:
    """Rules opened inside a style rule (we write no nested CSS), stray and unclosed braces."""
    problems, stack = [], []  # stack: True for a style rule, False for an at-rule block
    start = 0
    for match in re.finditer(r"[{};]", css):
        char = match.group()
        if char == "{":
            prelude = css[start : match.start()].strip()
            if stack and stack[-1]:
                problems.append(f"{prelude!r} opens inside a style rule")
            stack.append(not prelude.startswith("@"))
        elif char == "}":
            if not stack:
                problems.append(f"stray }} after {css[max(0, match.start() - 60) : match.start()]!r}")
            else:
                stack.pop()
        start = match.end()
    if stack:
        problems.append(f"{len(stack)} rule(s) never closed")
    return problems


def test_a_rule_opened_inside_another_rule_is_reported():
    assert nesting_problems(".a { color: red;\n.b { color: blue; }") == [
        "'.b' opens inside a style rule",
        "1 rule(s) never closed",
    ]
    assert nesting_problems("@media print { .a { color: red; } }\n.b:hover { color: blue; }") == []


def test_every_rule_in_the_stylesheet_is_closed_and_none_is_nested():
    assert nesting_problems(without_comments_and_strings(STYLESHEET.read_text())) == []


def test_every_custom_property_the_stylesheet_reads_is_defined():
    css = without_comments_and_strings(STYLESHEET.read_text())
    defined = set(re.findall(r"(--[\w-]+)\s*:", css))
    # var(--x, fallback) may be undefined on purpose; var(--x) may not.
    used = set(re.findall(r"var\(\s*(--[\w-]+)\s*\)", css))
    assert sorted(used - defined) == []


def test_the_table_of_contents_lists_the_sections_in_order():
    css = STYLESHEET.read_text()
    header = css[: css.index("*/")]
    contents = re.findall(r"^ \*\s+(\d+)\. (.+)$", header, flags=re.M)
    sections = re.findall(r"^/\* (\d+)\. (.+?) -+ \*/$", css, flags=re.M)
    assert len(contents) > 10
    assert contents == sections
