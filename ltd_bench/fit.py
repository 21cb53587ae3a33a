"""Tables that fit the terminal: the CLI's tables (report, sweep --dry-run, status) at any width, 80
columns included, without cutting a label to `rnn+cli…` or breaking a number across lines.

A table too wide for the console is made narrower one step at a time, each taken only while still
needed: headers get their short names; key columns (the group a row belongs to: task, T, ...) leave
the table and head their group as a caption line instead; cells break into lines at the separators a
column allows (an interval under its estimate, `vs reference` under the method), never mid-word; then
columns are left out in the order given. Only a table still too wide after all that is folded by rich.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from rich import box as boxes
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

SIMPLE = {"box": boxes.SIMPLE_HEAD, "pad_edge": False, "collapse_padding": True}  # the report's look


@dataclass
class Fit:
    """How a table may be narrowed. Column names are the headers as given (before `short`)."""

    short: dict[str, str] = field(default_factory=dict)  # narrower header names
    breaks: dict[str, tuple[str, ...]] = field(default_factory=dict)  # where a column's cells may break
    drop: tuple[str, ...] = ()  # columns left out, in this order, while the table is too wide
    keys: int = 0  # the first `keys` columns name the group a row belongs to (blank on its later rows)


def _broken(text: str, seps: tuple[str, ...]) -> str:
    for sep in seps:
        text = text.replace(sep, "\n" + sep.lstrip(" "))
    return text


def fitted(
    console: Console,
    header: list[str],
    rows: list[list[str]],
    fit: Fit | None = None,
    *,
    first: list[bool] | None = None,
    style: Callable[[str, str], str] | None = None,
    sections: bool = False,
    **table_kw,
) -> RenderableType:
    """`rows` under `header` as a table no wider than the console where `fit` allows it. first: which
    rows start a group (default: those whose key cells are not blank); style(column, value): a cell's
    rich style; sections: a rule under each group; table_kw: rich Table options (title, box, ...)."""
    fit = fit or Fit()
    first = first or [any(r[: fit.keys]) for r in rows]
    done: list[str] = []  # the narrowing steps taken

    def layout() -> tuple[list[int], list[str], list[list[str]]]:
        keys = fit.keys if "captions" in done else 0
        keep = [i for i, h in enumerate(header) if h not in done and i >= keys]
        seps = lambda i: fit.breaks.get(header[i], ()) if "breaks" in done else ()
        name = lambda i: fit.short.get(header[i], header[i]) if "short" in done else header[i]
        return (
            keep,
            [_broken(name(i), seps(i)) for i in keep],
            [[_broken(r[i], seps(i)) for i in keep] for r in rows],
        )

    def table(keep, hdr, body, span=None, widths=None, **kw) -> Table:
        t = Table(**{**table_kw, **kw})
        for j, h in enumerate(hdr):
            t.add_column(h, overflow="fold", width=widths and widths[j], min_width=widths and widths[j])
        span = span or range(len(rows))
        for k in span:
            end = sections and (k + 1 == len(rows) or first[k + 1])
            cells = [
                Text(c, style=style(header[i], rows[k][i]) if style else "")
                for i, c in zip(keep, body[k], strict=True)
            ]
            t.add_row(*cells, end_section=end)
        return t

    wide = console.options.update(max_width=10_000)  # measured unconstrained: the natural width

    def widest(hdr, body) -> Table:
        """A one-row table of each column's longest line: as wide as the whole table, measured faster."""
        t = Table(**table_kw)
        for h in hdr:
            t.add_column(h)
        lines = lambda col: [x for cell in col for x in cell.split("\n")] or [""]
        t.add_row(*(Text(max(lines(col), key=lambda x: Text(x).cell_len)) for col in zip(*body, strict=True)))
        return t

    steps = ["short", *(["captions"] if fit.keys else []), *(["breaks"] if fit.breaks else []), *fit.drop]
    for step in [None, *steps]:
        done += [step] if step else []
        keep, hdr, body = layout()
        if Measurement.get(console, wide, widest(hdr, body)).maximum <= console.width:
            break
    if "captions" not in done or not rows:
        return table(keep, hdr, body)
    # key columns as captions: one table per group, all with the same column widths, the header once
    cell_w = lambda text: max(Text(line).cell_len for line in text.split("\n"))
    widths = [max(map(cell_w, col)) for col in zip(hdr, *body, strict=True)]
    starts = sorted({0, *(k for k, f in enumerate(first) if f)})
    parts: list[RenderableType] = [Text(table_kw["title"], style="italic")] if table_kw.get("title") else []
    for n, (a, b) in enumerate(zip(starts, [*starts[1:], len(rows)], strict=True)):
        key = [f"{header[i]} {rows[a][i]}" if i else rows[a][i] for i in range(fit.keys) if rows[a][i]]
        parts += [Text(("\n" if n else "") + " · ".join(key), style="bold")]
        parts += [
            table(keep, hdr, body, range(a, b), widths, title=None, show_header=n == 0, show_edge=False)
        ]
    return Group(*parts)
