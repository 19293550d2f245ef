#!/usr/bin/env python3
"""Assembles a man page's Markdown from its source in docs/man/ and prints it.

A line `<!-- include FILE "HEADING" as TITLE -->` in the source is replaced by
the section of FILE (relative to the repository) whose heading text is
HEADING, down to the next heading of its level or above: its heading becomes
`# TITLE` and its subheadings move up to match. So the man pages are made from
the same text as the README and docs/, and cannot drift from it. Links to
places inside the documents keep their text only. pandoc turns the result
into roff (see the Makefile's man rule). Fails when an included heading is
not found.

Tables become definition lists (see table_as_list).

Usage: man.py SOURCE VERSION | pandoc --standalone --to man
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INCLUDE = re.compile(r'^<!-- include (\S+) "(.+)" as (.+) -->$')
HEADING = re.compile(r"^(#+) (.*)$")
LOCAL_LINK = re.compile(r"\[([^\]]+)\]\((?!https?:)[^)]*\)")


def lines_outside_fences(lines):
    """Yields (line, is_prose) for each line: False inside ``` blocks."""
    fenced = False
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
            yield line, False
        else:
            yield line, not fenced


def section(path, heading):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        lines = f.read().splitlines()
    out, level = [], None
    for line, prose in lines_outside_fences(lines):
        m = HEADING.match(line) if prose else None
        if level is None:
            if m and m.group(2) == heading:
                level = len(m.group(1))
            continue
        if m and len(m.group(1)) <= level:
            break
        if m:
            line = "#" * (len(m.group(1)) - level + 1) + " " + m.group(2)
        out.append(LOCAL_LINK.sub(r"\1", line) if prose else line)
    if level is None:
        sys.exit(f"man.py: {path} has no heading {heading!r}")
    return tables_as_lists(out)


def split_row(line):
    """The cells of a Markdown table row: split at | outside `code`."""
    cells, cell, code = [], "", False
    for c in line.strip().strip("|"):
        if c == "`":
            code = not code
        if c == "|" and not code:
            cells.append(cell.strip())
            cell = ""
        else:
            cell += c
    return cells + [cell.strip()]


def table_as_list(rows):
    """A Markdown table as a definition list: the first cell of each row is
    the term; the others, labelled with their column's header when there are
    more than one, its definition. Man pages read better so than as tbl
    tables, which do not fit 80 columns."""
    header, body = split_row(rows[0]), [split_row(r) for r in rows[2:]]
    out = []
    for cells in body:
        rest = list(zip(header[1:], cells[1:]))
        text = rest[0][1] if len(rest) == 1 else "; ".join(f"{h}: {v}" for h, v in rest)
        out += [cells[0], ":   " + text, ""]
    return out


def tables_as_lists(lines):
    out, table = [], []
    for line in lines + [""]:
        if line.startswith("|"):
            table.append(line)
            continue
        if table:
            out += table_as_list(table)
            table = []
        out.append(line)
    return out[:-1]


def main():
    source, version = sys.argv[1], sys.argv[2]
    with open(source, encoding="utf-8") as f:
        for line in f.read().splitlines():
            m = INCLUDE.match(line)
            if m:
                print(f"# {m.group(3)}")
                print("\n".join(section(m.group(1), m.group(2))))
            else:
                print(line.replace("@VERSION@", version))


if __name__ == "__main__":
    main()
