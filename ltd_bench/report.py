"""`ltd-bench report`: check every option, load the runs, analyse, print, then write CSV, Markdown, figures.

Loading is runs.py (through outputs.py), the statistics analysis.py, text render.py, figures plots.py;
this module only connects them. Exit codes: 0 done (damaged run folders are skipped, each named in a
warning), 2 bad input (one line on stderr, nothing written), 1 an output could not be written.
Tables and "wrote" lines go to stdout; errors and warnings to stderr.
"""

from __future__ import annotations

import math
from pathlib import Path

PLOT_FORMATS = ("png", "pdf", "svg")


class UsageError(ValueError):
    """Bad input to the report: one line, exit 2, nothing written."""


def _file_option(flag: str, path: Path | None, example: str) -> None:
    if path is None:
        return
    if str(path) in ("", ".") or not path.name:
        raise UsageError(f"{flag}: needs a file name, e.g. {flag} {example} (got an empty path or '.')")
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a folder; give a file name, e.g. {path / example}")
    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise UsageError(f"{flag} {path}: {parent} is a file, not a folder")


def check_options(root: Path, csv, markdown, plots, margin, plots_format, flow_step) -> None:
    """Everything that can be refused before a run is read."""
    if plots_format not in PLOT_FORMATS:
        raise UsageError(f"--plots-format {plots_format!r}: unknown (allowed: {', '.join(PLOT_FORMATS)})")
    if margin is not None and not (math.isfinite(margin) and margin > 1):
        raise UsageError(f"--margin {margin}: must be a ratio above 1, e.g. 1.25 (RMST within ±25%)")
    if flow_step is not None and flow_step < 0:
        raise UsageError(f"--flow-step {flow_step}: must be a training step >= 0")
    _file_option("--csv", csv, "table.csv")
    _file_option("--markdown", markdown, "table.md")
    if plots is not None and (str(plots) == "" or (plots.exists() and not plots.is_dir())):
        raise UsageError(f"--plots {plots}: must be a folder (it is created if missing)")
    if not root.exists():
        raise UsageError(f"{root} does not exist")
    if not root.is_dir():
        raise UsageError(f"{root} is not a folder of runs")


def parse_compare(specs: list[str], methods: list[str]) -> list[tuple[str, str]]:
    """'METHOD:REFERENCE' -> pairs; a label may contain ':', so every split point is tried."""
    pairs = []
    for spec in specs:
        cuts = [i for i, ch in enumerate(spec) if ch == ":"]
        found = [(spec[:i], spec[i + 1 :]) for i in cuts if spec[:i] in methods and spec[i + 1 :] in methods]
        if not cuts:
            raise UsageError(f"--compare {spec!r}: expected METHOD:REFERENCE, e.g. 'rnn+clip+Ω:rnn+clip'")
        if not found:
            parts = [spec[: cuts[0]], spec[cuts[0] + 1 :]] if len(cuts) == 1 else [spec]
            unknown = ", ".join(repr(p) for p in parts if p not in methods)
            raise UsageError(
                f"--compare {spec!r}: unknown method {unknown} (available: {', '.join(methods)})"
            )
        a, b = found[0]
        if a == b:
            raise UsageError(f"--compare {spec!r}: compares {a} with itself")
        if (a, b) not in pairs:
            pairs.append((a, b))
    return pairs


def run_report(
    root: Path,
    csv: Path | None = None,
    markdown: Path | None = None,
    plots: Path | None = None,
    compare: list[str] = (),
    margin: float | None = None,
    plots_format: str = "png",
    flow_step: int | None = None,
    console=None,
    err_console=None,
    interim: bool = False,
) -> int:
    from rich.console import Console

    from . import wheremap
    from .analysis import COUNTED, analyse
    from .render import terminal, write_csvs, write_markdown
    from .runs import load

    console = console or Console(highlight=False)
    err = err_console or Console(stderr=True, highlight=False)
    say = lambda con, text, **kw: con.print(text, markup=False, highlight=False, soft_wrap=True, **kw)
    root = Path(root)
    try:
        check_options(root, csv, markdown, plots, margin, plots_format, flow_step)
        if interim:  # unfinished runs counted as censored (interim.py)
            from .interim import load_interim as load
        res = load(root)
        finished = res.runs[res.runs.status.isin(COUNTED)] if len(res.runs) else res.runs
        if finished.empty:  # say what there was instead, on the same line
            skipped = sum(w.startswith("skipped") for w in res.warnings)
            seen = [f"{len(res.runs)} interrupted or failed"] if len(res.runs) else []
            seen += [f"{skipped} damaged folder(s) skipped"] if skipped else []
            what = "run" if res.runs.empty else "finished run (solved, unsolved or diverged)"
            found = f": {', '.join(seen)}" if seen else " (a run folder holds summary.json)"
            raise UsageError(f"no {what} under {root}{found}")
        methods = sorted(finished.method.unique())
        if compare:
            pairs, source = parse_compare(list(compare), methods), "--compare"
        elif res.compare:
            pairs, source = res.compare, "declared in sweep.json"
        else:
            pairs, source = None, ""
    except UsageError as e:
        say(err, f"error: {e}", style="red")
        return 2
    an = analyse(res.runs, pairs, source, margin)
    skipped = sum(w.startswith("skipped") for w in res.warnings)
    counted = f"{len(finished)} finished run(s)"
    if interim:
        from .interim import km_table, label

        label(an, res.runs)
        counted = f"{an.interim}: {len(finished)} run(s)"
    title = f"{counted} from {root}" + (f", {skipped} folder(s) skipped" if skipped else "")
    terminal(console, an, title)
    wheremap.terminal(console, an)
    for w in res.warnings:
        say(err, f"warning: {w}", style="yellow")
    try:
        if csv:
            csv.parent.mkdir(parents=True, exist_ok=True)
            for p in [*write_csvs(csv, res.runs, an), wheremap.write_csv(csv, an)]:
                if p:
                    say(console, f"wrote {p}")
            if interim:  # the Kaplan–Meier curves as numbers: what an interim figure draws
                km = csv.with_name(f"{csv.stem}_km.csv")
                km_table(an, res.runs).to_csv(km, index=False)
                say(console, f"wrote {km}")
        if markdown:
            markdown.parent.mkdir(parents=True, exist_ok=True)
            write_markdown(markdown, root, an, res.warnings, extra=wheremap.markdown(an))
            say(console, f"wrote {markdown}")
        if plots:
            from .plots import make_plots

            written, plot_warnings = make_plots(res, an, plots, fmt=plots_format, flow_step=flow_step)
            written += wheremap.figure(an, plots, plots_format)
            for p in written:
                say(console, f"wrote {p}")
            for w in plot_warnings:
                say(err, f"warning: {w}", style="yellow")
    except OSError as e:
        say(err, f"error: could not write output: {e}", style="red")
        return 1
    return 0
