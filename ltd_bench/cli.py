"""The `ltd-bench` command line. Exit codes: 0 ok (a diverged run is a result), 1 failure, 2 bad usage
or config (nothing written), 130 interrupted."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .config import ConfigError, load_config, resolved_yaml

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Long-term-dependency benchmarks for recurrent nets: clipping, Ω, RNN vs LSTM.",
)
out_console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

SetOpt = typer.Option(
    None, "--set", help="Override a config field: dotted.key=value (YAML scalar). Repeatable."
)
OutOpt = typer.Option(Path("results"), "--out", help="Output folder; runs go to OUT/<name>/<run_id>/.")


def fail_config(errors: list[str]) -> None:
    for e in errors:
        err_console.print(
            f"[red]error[/red] {escape(e)}", soft_wrap=True, emoji=False
        )  # user text is not markup
    raise typer.Exit(2)


@app.command()
def run(
    config: Path = typer.Argument(..., help="Experiment config (YAML)."),
    out: Path = OutOpt,
    set_: Optional[list[str]] = SetOpt,
    no_progress: bool = typer.Option(
        False, "--no-progress", help="No progress bar (also off when not a terminal)."
    ),
    weights: bool = typer.Option(True, "--weights/--no-weights", help="Save the final weights (model.pt)."),
    force: bool = typer.Option(
        False, "--force", help="Train from scratch even if the run finished or has a checkpoint."
    ),
):
    """Train one configured run into OUT/<name>/<run_id>/.

    A killed or interrupted run continues from its checkpoint; a finished one is not trained again (--force retrains it)."""
    from . import tboard
    from .extend import for_run
    from .outputs import CHECKPOINT, finished, read_summary, run_dir
    from .runner import RunBusy, execute, hold
    from .sweep import is_sweep_file

    if is_sweep_file(config):
        fail_config(
            [
                f"{config}: is a sweep file (it has base/methods/grid/zip): run it with ltd-bench sweep {config}"
            ]
        )
    try:
        cfg = load_config(config, set_ or [])
    except ConfigError as e:
        fail_config(e.errors)
    check_out_dir(out)
    try:
        tboard.check([cfg], str(config))
        path = run_dir(out, cfg)
    except ValueError as e:  # e.g. OUT/<name> is a symlink that leads outside OUT
        fail_config([f"{config}: name: {e}"])
    except ConfigError as e:
        fail_config(e.errors)
    if cfg.train.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            fail_config(
                [f"{config}: train.device: cuda, but no CUDA device is available here (allowed: auto, cpu)"]
            )
    warn = lambda msg: err_console.print(f"[yellow]warning[/yellow] {escape(msg)}", soft_wrap=True)
    done, why = finished(path)
    if done and not force:
        s = read_summary(path)
        at = f" at step {s.get('steps_to_solve')}" if s.get("status") == "solved" else ""
        out_console.print(
            f"already finished ({s.get('status')}{at}): {escape(str(path))}\n"
            "nothing trained; --force trains it again from scratch",
            soft_wrap=True,
        )
        raise typer.Exit(0)
    try:
        with hold(path):
            if why:
                warn(f"not trusted, trained again: {why}")
            if force:
                (path / CHECKPOINT).unlink(missing_ok=True)
            elif (path / CHECKPOINT).is_file():
                out_console.print(f"continuing from the checkpoint in {escape(str(path))}", soft_wrap=True)
            elif (extended := for_run(path, cfg)) is not None:  # a shorter budget of this config ran
                copied, how = extended
                out_console.print(f"train.steps {cfg.train.steps:,}: {how}", soft_wrap=True, markup=False)
                if copied:
                    print_summary(read_summary(path), path)
                    raise typer.Exit(0)
            show = not no_progress and out_console.is_terminal
            summary, path = execute(cfg, out, progress=show, weights=weights, console=out_console, warn=warn)
    except RunBusy as e:
        err_console.print(f"[red]error[/red] {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(1) from None
    print_summary(summary, path)
    raise typer.Exit(130 if summary["status"] == "interrupted" else 0)


def check_out_dir(out: Path) -> None:
    """--out must be a folder or creatable as one, and writable: a usage error (exit 2) before anything
    is written."""
    import os

    existing = next(p for p in (out, *out.absolute().parents) if p.exists())
    where = "" if existing == out else f"{existing} "
    if not existing.is_dir():  # OUT, or a folder it would be created in, is a file
        fail_config([f"--out {out}: {where}is not a directory"])
    if not os.access(existing, os.W_OK | os.X_OK):
        fail_config([f"--out {out}: {where}is not writable (permission denied)"])


def print_summary(s: dict, path: Path) -> None:
    colour = {"solved": "green", "unsolved": "yellow", "diverged": "red", "interrupted": "magenta"}
    t = Table(
        title=escape(f"{s['name']} · {s['method']}"), show_header=False, title_justify="left"
    )  # a method label is user text, not rich markup
    t.add_column(style="bold")
    t.add_column()
    fmt = lambda v: "—" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))
    t.add_row("status", f"[{colour.get(s['status'], 'white')}]{s['status']}[/]")
    for key in (
        "steps",
        "steps_to_solve",
        "test_error",
        "test_loss",
        "baseline_loss",
        "final_omega",
        "diverged_at_step",
        "nonfinite_grad_steps",
        "wall_time_s",
        "run_id",
    ):
        if key in s:
            t.add_row(key, fmt(s[key]))
    out_console.print(t)
    out_console.print(f"results: {escape(str(path))}", soft_wrap=True)
    if s.get("note"):
        out_console.print(f"[dim]note: {s['note']}[/dim]")


@app.command()
def validate(
    config: Path = typer.Argument(..., help="Experiment or sweep config (YAML)."),
    set_: Optional[list[str]] = SetOpt,
):
    """Print the resolved config and its run id, or every error in it."""
    from .sweep import is_sweep_file, load_sweep

    try:
        if is_sweep_file(config):
            sw = load_sweep(config, set_ or [])
            left = f" ({sw.excluded} left out by exclude:)" if sw.excluded else ""
            out_console.print(
                f"sweep {sw.name}: {len(sw.runs)} runs{left}, all valid", markup=False, emoji=False
            )
            for r in sw.runs:
                out_console.print(f"  {r.run_id}  {r.label}", markup=False, emoji=False, soft_wrap=True)
            return
        cfg = load_config(config, set_ or [])
    except ConfigError as e:
        fail_config(e.errors)
    out_console.print(resolved_yaml(cfg), end="", markup=False, emoji=False, soft_wrap=True)  # verbatim YAML
    out_console.print(f"# run_id: {cfg.run_id}")


@app.command()
def sweep(
    sweep_file: Path = typer.Argument(..., help="Sweep config (YAML): base, methods, grid, zip."),
    out: Path = OutOpt,
    set_: Optional[list[str]] = SetOpt,
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Parallel runs (default: cores)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the runs without training."),
    executor: str = typer.Option("local", "--executor", help="local (process pool) | dask"),
    scheduler: Optional[str] = typer.Option(
        None,
        "--scheduler",
        help="Dask scheduler tls://HOST:PORT or tcp://HOST:PORT (default with --executor dask: a "
        "LocalCluster here).",
    ),
    tls_ca_file: Optional[Path] = typer.Option(
        None,
        "--tls-ca-file",
        help="tls:// scheduler: the cluster's CA certificate (PEM). Default: Dask config "
        "distributed.comm.tls.ca-file.",
    ),
    tls_cert: Optional[Path] = typer.Option(
        None,
        "--tls-cert",
        help="tls:// scheduler: this client's certificate (PEM), signed by that CA. Default: Dask config "
        "distributed.comm.tls.client.cert.",
    ),
    tls_key: Optional[Path] = typer.Option(
        None,
        "--tls-key",
        help="tls:// scheduler: the certificate's unencrypted private key (PEM). Default: Dask config "
        "distributed.comm.tls.client.key.",
    ),
    worker_wait: Optional[float] = typer.Option(
        None,
        "--worker-wait",
        metavar="SECONDS",
        help="With --scheduler: how long to wait for a first worker (default 300).",
    ),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
    max_runs: int = typer.Option(
        100_000, "--max-runs", min=1, help="Refuse a sweep that expands to more runs than this."
    ),
    pack: str = typer.Option(
        "auto",
        "--pack",
        metavar="auto|off|K",
        help="Train runs that agree on shapes (vanilla RNN, one length) K at a time as one batched model: "
        "the same numbers on the CPU, more runs per second. auto: a size for the device, every worker busy.",
    ),
):
    """Run a grid of configs, resumably and in parallel.

    Finished runs are skipped; rerunning the same command resumes the rest."""
    from .sweep import sweep_command

    check_out_dir(out)

    raise typer.Exit(
        sweep_command(
            sweep_file,
            out=out,
            overrides=set_ or [],
            workers=workers,
            dry_run=dry_run,
            executor=executor,
            scheduler=scheduler,
            progress=not no_progress,
            console=out_console,
            err_console=err_console,
            max_runs=max_runs,
            pack=pack,
            executor_options={
                "tls_ca_file": tls_ca_file,
                "tls_cert": tls_cert,
                "tls_key": tls_key,
                "worker_wait_s": worker_wait,
            },
        )
    )


@app.command()
def bench(
    seq_len: Optional[list[int]] = typer.Option(
        None,
        "--seq-len",
        help="Sequence lengths T (repeatable; default 200 and 1000, with --pack 100 and 200).",
    ),
    hidden: int = typer.Option(50, "--hidden", min=1, help="Hidden units H."),
    batch: int = typer.Option(20, "--batch", min=1, help="Minibatch size."),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda | auto"),
    repeats: int = typer.Option(7, "--repeats", min=1, help="Timed repeats per measure (median reported)."),
    steps: int = typer.Option(20, "--steps", min=1, help="Training steps per repeat."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Write the table as CSV."),
    quick: bool = typer.Option(False, "--quick", help="Tiny sizes, for smoke tests."),
    threads: int = typer.Option(1, "--threads", min=1, help="Intra-op threads (as train.threads)."),
    pack: Optional[list[int]] = typer.Option(
        None,
        "--pack",
        min=1,
        metavar="K",
        help="Time packs of K runs (repeatable, e.g. --pack 1 --pack 8 --pack 32 --pack 128) against one run, "
        "with Ω off and on, the torch-op floor and a torch.func peer, instead of the measures above.",
    ),
    update: str = typer.Option(
        "auto",
        "--update",
        help="With --pack: how a pack's runs clip and step — auto (per_run on cpu, batched on cuda), "
        "per_run, batched, or both (each timed).",
    ),
    orthogonal: bool = typer.Option(
        False,
        "--orthogonal",
        help="Time the orthogonal RNN's step against the vanilla RNN's (ratio; goal ≤ 1.3 at T=100), "
        "instead of the measures above; with --pack, its packs against one run, beside the vanilla RNN's.",
    ),
):
    """Time the training step, plain and with Ω, or packs of runs.

    Side by side: the plain step, the Ω step (both forms), the naive Ω and a bare PyTorch loop; with --pack, packed runs (ltd-bench sweep --pack) against one run."""
    from .bench import bench_command

    measures = pack_measures = None
    if orthogonal:  # bench_models.py: the orthogonal RNN's step (or packs) against the vanilla RNN's
        from .bench_models import ORTHOGONAL_SEQ_LENS, bench_orthogonal, bench_orthogonal_packs

        measures, pack_measures = bench_orthogonal, bench_orthogonal_packs
        seq_len = seq_len or ORTHOGONAL_SEQ_LENS
    raise typer.Exit(
        bench_command(
            seq_lens=seq_len,
            hidden=hidden,
            batch=batch,
            device=device,
            repeats=repeats,
            steps=steps,
            csv=csv,
            quick=quick,
            console=out_console,
            threads=threads,
            pack=pack or None,
            measures=measures,
            update=update,
            pack_measures=pack_measures,
        )
    )


@app.command("ls")
def ls(
    what: str = typer.Argument(
        "all",
        help="tasks | variants | models | nonlinearities | inits | orthogonal-maps | optimizers | devices | clipping"
        " | nonfinite"
        " | omega-forms | schedules | fields | all",
    ),
):
    """List what a config can name and every config field."""
    from .catalog import catalog

    tables = catalog()
    if what != "all" and what not in tables:
        from .registry import did_you_mean

        err_console.print(
            f"[red]error[/red] unknown list {what!r}{did_you_mean(what, list(tables))} "
            f"(allowed: {', '.join(tables)}, all)"
        )
        raise typer.Exit(2)
    for name, (header, rows) in tables.items():
        if what in ("all", name) and (name != "fields" or what == "fields"):
            t = Table(title=name, title_justify="left")
            for i, h in enumerate(header):
                t.add_column(h, style="bold" if i == 0 else None, overflow="fold")
            for row in rows:
                t.add_row(*map(escape, row))
            out_console.print(t)
    if what in ("all", "tasks"):
        out_console.print("suggested T: the preset's usual length; task.seq_len itself defaults to 100")
    if what == "all":
        out_console.print("every config field, its default and meaning: ltd-bench ls fields")


@app.command()
def report(
    results: Path = typer.Argument(Path("results"), help="Folder of runs (searched recursively)."),
    csv: Optional[Path] = typer.Option(
        None, "--csv", help="Write the cell table (+ _runs.csv, _verdicts.csv)."
    ),
    markdown: Optional[Path] = typer.Option(None, "--markdown", help="Write both tables as Markdown."),
    plots: Optional[Path] = typer.Option(None, "--plots", help="Write the figures into this folder."),
    plots_format: str = typer.Option("png", "--plots-format", help="png | pdf | svg (vector, for papers)."),
    compare: Optional[list[str]] = typer.Option(
        None, "--compare", help="METHOD:REFERENCE to test (repeatable); replaces the declared/default ones."
    ),
    margin: Optional[float] = typer.Option(
        None, "--margin", help="Declared equivalence margin on the RMST ratio, e.g. 1.25 (off by default)."
    ),
    flow_step: Optional[int] = typer.Option(
        None, "--flow-step", help="Training step of the gradient-flow figure (default: common to all runs)."
    ),
    interim: bool = typer.Option(
        False,
        "--interim",
        help="Also count unfinished runs, censored at their last evaluation (labelled INTERIM).",
    ),
):
    """Compare methods across runs: time to solve, tests, verdicts.

    Tables in the terminal, as CSV and as Markdown; figures as PNG, PDF or SVG."""
    from .report import run_report

    raise typer.Exit(
        run_report(
            results,
            csv=csv,
            markdown=markdown,
            plots=plots,
            compare=compare or [],
            margin=margin,
            plots_format=plots_format,
            flow_step=flow_step,
            console=out_console,
            err_console=err_console,
            interim=interim,
        )
    )


@app.command()
def status(
    results: Path = typer.Argument(Path("results"), help="A sweep's folder, or a folder of sweeps."),
    watch: bool = typer.Option(False, "--watch", help="Redraw in place until Ctrl-C."),
    interval: float = typer.Option(
        5.0, "--interval", min=0.1, metavar="SECONDS", help="--watch: redraw this often."
    ),
    stalled: float = typer.Option(
        600.0,
        "--stalled-after",
        min=1,
        metavar="SECONDS",
        help="Flag a training run with no metrics row for this long.",
    ),
):
    """Show how far the sweeps in a folder have come while they train.

    Runs finished, training, stopped (killed or interrupted), waiting and failed, per sweep and method; each training run's step, held-out error, rate and ETA; the sweep's ETA. Only reads: usable from another terminal or machine."""
    from .status import STALLED_S, status_command

    raise typer.Exit(status_command(results, watch, interval, stalled or STALLED_S, out_console, err_console))


@app.command()
def tensorboard(
    results: Path = typer.Argument(Path("results"), help="A folder of runs (searched recursively)."),
    logdir: Optional[Path] = typer.Option(
        None, "--logdir", help="Write under LOGDIR/<sweep name>/ (default: each sweep's tensorboard/ folder)."
    ),
):
    """Write TensorBoard event files from run folders.

    The same files train.tensorboard writes while runs train: each evaluation as scalars, one TensorBoard run per run (method and seed), the config as hyper-parameters. Needs the tensorboard extra."""
    from .tboard import export_command

    raise typer.Exit(export_command(results, logdir, out_console, err_console))


def version_callback(value: bool) -> None:
    if value:
        from . import __version__

        out_console.print(f"ltd-bench {__version__}", markup=False)
        raise typer.Exit(0)


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=version_callback, is_eager=True, help="Print the version and exit."
    ),
):
    """Long-term-dependency benchmarks for recurrent nets: clipping, Ω, RNN vs LSTM."""


def main() -> None:
    _quiet_closed_stdout()
    try:
        rc = app(standalone_mode=False)  # click *returns* a typer.Exit's code in this mode instead of raising
        sys.exit(rc if isinstance(rc, int) else 0)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as e:  # click usage errors and anything unexpected: one line, no traceback
        if callable(getattr(e, "show", None)) and isinstance(getattr(e, "exit_code", None), int):
            e.show()  # a click usage error (typer vendors its own click, so no isinstance on click's class)
            hint = _set_hint(getattr(e, "option_name", None))
            if hint:
                err_console.print(hint, soft_wrap=True, markup=False)
            sys.exit(e.exit_code)
        err_console.print(
            f"[red]error[/red] {type(e).__name__}: {escape(str(e))}", soft_wrap=True, emoji=False
        )
        sys.exit(1)


def _set_hint(option: str | None) -> str | None:
    """`--steps 300` is not an option; a config field is set with --set. Name the field meant."""
    import difflib

    from .config import Config, flatten

    if not option or not option.startswith("--"):
        return None
    fields = list(flatten(Config().to_dict()))
    leaves = {f.rsplit(".", 1)[-1]: f for f in fields}
    word = option[2:].replace("-", "_")
    close = difflib.get_close_matches(word, list(leaves), n=1, cutoff=0.75)
    if not close:
        return None
    return f"config fields are set with --set: e.g. --set {leaves[close[0]]}=VALUE (ltd-bench ls fields)"


class _ClosedStdout:
    """stdout that survives its reader going away (`ltd-bench sweep ... | head`): training goes on,
    further output is dropped instead of raising BrokenPipeError."""

    def __init__(self, stream):
        self.stream, self.closed_pipe = stream, False

    def write(self, text: str) -> int:
        if not self.closed_pipe:
            try:
                return self.stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.closed_pipe:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        import os

        self.closed_pipe = True
        try:  # the interpreter flushes stdout at exit: point fd 1 at /dev/null so that cannot fail
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
        except (OSError, ValueError):
            pass

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _quiet_closed_stdout() -> None:
    if not isinstance(sys.stdout, _ClosedStdout):
        sys.stdout = _ClosedStdout(sys.stdout)
