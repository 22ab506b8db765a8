"""Markdown tables: the format of every table homeobridge prints or writes, and their HTML form."""

from __future__ import annotations

import html


def _cell(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    """A markdown table; floats with 4 significant digits."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_to_html(table: str) -> str:
    """A markdown table (as :func:`markdown_table` writes them) as an HTML table, cell text unchanged."""
    lines = [line.strip() for line in table.strip().splitlines() if line.strip()]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    header, body = rows[0], rows[2:]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in header)
    cells = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>"
