"""The `agent` command line: evolve, check, new-task, runs, show, export, view, report.

Heavy modules (the store, the LLM gateway, rich) are imported inside commands, so
`agent --help` is instant. Mistakes a user can make end in one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from agent.cli_errors import UserError, user_errors as _user_errors


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from agent.version import evoforge_version

    click.echo(f"agent (evoforge) {evoforge_version()}")
    ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version and exit.")
def cli() -> None:
    """evoforge: LLM-driven evolutionary search over programs."""


@cli.command()
@click.argument("task_file", type=click.Path(path_type=Path))
@click.option("--evaluations", type=click.IntRange(min=1), help="Evaluation budget (budget.evaluations).")
@click.option("--dollars", type=click.FloatRange(min=0), help="LLM spend limit in US dollars (budget.dollars).")
@click.option("--wall-seconds", type=click.FloatRange(min=1), help="Wall-clock limit for this session.")
@click.option("--strategy", help="Search strategy name or dotted path (search.strategy).")
@click.option("--model", help="litellm model string; replaces llm.models.")
@click.option("--api-base", help="OpenAI-compatible server URL for the model(s).")
@click.option("--workers", type=click.IntRange(min=1), help="Evaluations at once (evaluate.workers).")
@click.option("--store", help="SQLAlchemy URL of the store (default sqlite:///runs/<task>.db).")
@click.option("--seed", type=int, help="Random seed (search.seed).")
@click.option("--resume", is_flag=True, help="Continue the latest run of this task in the store.")
@click.option("--run", "run_ref", help="Continue this run (id or unique prefix).")
@click.option("-q", "--quiet", is_flag=True, help="No progress output; warnings and the summary only.")
@_user_errors
def evolve(task_file: Path, resume: bool, run_ref: str | None, quiet: bool, **overrides) -> None:
    """Run an evolutionary search on TASK_FILE (a task.yaml).

    Exit codes: 0 finished; 130 stopped by Ctrl-C, 143 by SIGTERM (continue with --run);
    1 the run failed (also when its proposals stopped giving anything new to evaluate) or
    crashed (one line on stderr; the status is stored); 2 a mistake in the task or options, or
    the run is already running elsewhere (nothing started).
    """
    from agent.config import load_task
    from agent.display import ProgressReporter, console, summary_table
    from agent.failures import RunFailed
    from agent.session import RunCrashed
    from agent.session import evolve as run_evolve
    from agent.stopping import Interrupted, Stops
    from archives.store import shown_url

    with Stops() as stops:
        task = load_task(task_file, overrides)
        try:
            with ProgressReporter(task.budget.evaluations, quiet=quiet) as reporter:
                outcome = run_evolve(
                    task, task_file, resume=resume, run_ref=run_ref, reporter=reporter,
                    overrides=overrides, stops=stops,
                )
        except RunFailed as exc:
            stops.ending()
            if exc.best_so_far:  # what the run found before it failed is not lost
                click.echo(exc.best_so_far)
            _fail(str(exc))
        except RunCrashed as exc:
            import traceback

            stops.ending()
            traceback.print_exception(exc.__cause__)
            _fail(f"{exc} (a bug in evoforge: the traceback above says where)")
        except Interrupted as exc:  # before the run existed (e.g. during the preflight)
            stops.ending()
            click.echo(f"stopped ({exc}); no run was started", err=True)
            sys.exit(exc.exit_code)
        stops.ending()  # a late Ctrl-C cuts neither the summary, the resume command nor the exit code
        console.print(summary_table(outcome))
        if outcome.report:  # the evaluator's own (e.g. a prompt task's held-out test scores)
            console.print(outcome.report, markup=False, highlight=False)
        if outcome.best is not None:  # commands to copy: never wrapped
            console.print(f"best program: agent export {outcome.run.id[:8]} --store {shown_url(task.store_url)}",
                          soft_wrap=True)
        if outcome.status == "stopped":
            store = f" --store {shown_url(overrides['store'])}" if overrides.get("store") else ""
            console.print(
                f"stopped; continue with: agent evolve {task_file} --run {outcome.run.id[:8]}{store}", soft_wrap=True
            )
        sys.exit(outcome.exit_code)


def _fail(message: str) -> None:
    """`error: <message>` on stderr and exit code 1: the run could not do its job."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@cli.command()
@click.option("--store", "store_url", help="SQLAlchemy URL (default: every runs/*.db here).")
@_user_errors
def runs(store_url: str | None) -> None:
    """List the runs in the store(s)."""
    from agent.display import out, runs_table
    from archives.store import Store

    summaries = []
    for url in _store_urls(store_url):
        with Store(url, create=False) as store:  # a mistyped URL is an error, not a new store
            summaries.extend(store.list_runs())
    if not summaries:
        click.echo("no runs yet: start one with `agent evolve tasks/tsp_anneal/task.yaml`")
        return
    summaries.sort(key=lambda s: s.run.started_at, reverse=True)
    out.print(runs_table(summaries))


@cli.command()
@click.argument("run_ref")
@click.option("--store", "store_url", help="SQLAlchemy URL (default: search runs/*.db here).")
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True, help="Best programs shown.")
@_user_errors
def show(run_ref: str, store_url: str | None, top: int) -> None:
    """Show one run: best programs, counts by status, spend and time."""
    from agent.display import out, programs_table
    from agent.learning.show import show_lines
    from agent.spend import spend_lines
    from agent.summary_effect import summary_effect_line
    from rich.table import Table

    with _open_run(run_ref, store_url) as (store, run):
        summary = store.run_summary(run.id)
        table = Table(title=f"run {run.id}", show_header=False)
        table.add_column(style="bold")
        table.add_column()
        table.add_row("task", f"{run.task_name}  ({run.task_path})")
        table.add_row("strategy / seed", f"{run.strategy} / {run.seed}")
        table.add_row("status", run.status + (f"  ({run.notes})" if run.notes else ""))
        table.add_row("evaluated", str(summary.evaluated))
        table.add_row("by status", ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items())))
        table.add_row("best fitness", "-" if summary.best_fitness is None else f"{summary.best_fitness:.6g}")
        table.add_row("LLM spend", f"${summary.cost:.4f} over {summary.llm_calls} calls, {summary.tokens} tokens")
        failures = store.failure_reasons(run.id)
        if failures:
            table.add_row("top failures", "\n".join(
                f"{f.count} {'failed LLM calls' if f.source == 'llm' else f.status}: {f.reason}" for f in failures
            ))  # fmt: skip
        if run.started_at:
            end = run.ended_at or _latest_activity(store, run.id) or run.started_at
            table.add_row("time", f"{end - run.started_at:.1f} s from start to {'end' if run.ended_at else 'last result'}")
        out.print(table)
        out.print(programs_table(store.best_programs(run.id, top), f"best {top} programs"))
        for line in spend_lines(store, run.id):  # what the LLM dollars bought, per model (agent/spend.py)
            out.print(line, markup=False, highlight=False, soft_wrap=True)
        calls = store.llm_calls(run.id)
        effect = summary_effect_line(store.programs(run.id), sum(c.role == "summarize" for c in calls))
        if effect is not None:  # whether the summarizer's recommendations change outcomes (agent/summary_effect.py)
            out.print(effect, markup=False, highlight=False, soft_wrap=True)
        for line in show_lines(store, run.id):  # what the learning proposer did (agent/learning)
            out.print(line, markup=False, highlight=False, soft_wrap=True)


@cli.command()
@click.argument("run_ref")
@click.option("--store", "store_url", help="SQLAlchemy URL (default: search runs/*.db here).")
@click.option("--out", "out_path", type=click.Path(path_type=Path), help="Write the best program here (default: <task>_best.<ext>).")
@click.option("--jsonl", "jsonl_path", type=click.Path(path_type=Path), help="Also write every program as JSON lines here.")
@_user_errors
def export(run_ref: str, store_url: str | None, out_path: Path | None, jsonl_path: Path | None) -> None:
    """Write a run's best program to a file, and optionally all programs as JSON lines."""
    import dataclasses

    with _open_run(run_ref, store_url) as (store, run):
        best = store.best_programs(run.id, 1)
        if best:
            ext = Path(run.config.get("program", "program.py")).suffix or ".txt"
            target = out_path or Path(f"{run.task_name}_best{ext}")
            target.write_text(best[0].source, encoding="utf-8")
            click.echo(f"best program {best[0].id[:8]} (fitness {best[0].fitness:.6g}) -> {target}")
        else:
            click.echo("no correct program in this run yet", err=True)
        if jsonl_path is not None:
            count = 0
            with jsonl_path.open("w", encoding="utf-8") as fh:
                for program in store.programs(run.id):
                    fh.write(json.dumps(dataclasses.asdict(program)) + "\n")
                    count += 1
            click.echo(f"{count} programs -> {jsonl_path}")
        if not best and jsonl_path is None:
            sys.exit(1)


@cli.command()
@click.option("--db", "--store", "store_url", help="SQLAlchemy URL of the store (default: every runs/*.db here).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port (0: any free one).")
@_user_errors
def view(store_url: str | None, host: str, port: int) -> None:
    """Browse runs in a web page (read-only; works while a run is going)."""
    from agent.viewer.serve import serve

    try:
        serve(_viewer_catalog(store_url), host, port, echo=click.echo)
    except OSError as exc:
        raise UserError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None


@cli.command()
@click.argument("run_ref")
@click.option("--out", "out_path", type=click.Path(path_type=Path), default=Path("report.html"), show_default=True, help="HTML file to write.")
@click.option("--db", "--store", "store_url", help="SQLAlchemy URL (default: search runs/*.db here).")
@click.option("--programs", "max_programs", type=click.IntRange(min=1), default=200, show_default=True, help="Most programs recorded with their full page.")
@_user_errors
def report(run_ref: str, out_path: Path, store_url: str | None, max_programs: int) -> None:
    """Write one run as a self-contained HTML page, for sharing."""
    from agent.viewer.catalog import NotFound
    from agent.viewer.report import write_report

    catalog = _viewer_catalog(store_url)
    try:
        run_id, full = write_report(catalog, run_ref, out_path, max_programs)
    except NotFound as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot write {out_path}: {exc.strerror or exc}") from None
    finally:
        catalog.close()
    click.echo(f"run {run_id[:8]} -> {out_path} ({full} program pages, {out_path.stat().st_size // 1024} KiB)")


def _viewer_catalog(store_url: str | None):
    from agent.config import ConfigError
    from agent.viewer.catalog import Catalog

    if store_url:
        return Catalog([store_url])
    if not Path("runs").is_dir():
        raise ConfigError("no store found: pass --db URL (no runs/ folder here)")
    return Catalog(folder=Path("runs"))


@cli.command("new-task")
@click.option("--from-kernelbench", "reference", type=click.Path(path_type=Path),
              help="A KernelBench problem file (Model, get_inputs, get_init_inputs).")
@click.option("--from-openevolve", "openevolve_config", type=click.Path(path_type=Path),
              help="An OpenEvolve config.yaml (its initial_program.* and evaluator.py beside it).")
@click.option("--language", type=click.Choice(["triton", "cuda"]), default=None,
              help="KernelBench: what candidates are written in (default triton).")
@click.option("--program", type=click.Path(path_type=Path),
              help="OpenEvolve: the initial program (default: initial_program.* beside the config).")
@click.option("--evaluator", type=click.Path(path_type=Path),
              help="OpenEvolve: the evaluator (default: evaluator.py beside the config).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Folder to write (default: KernelBench ./<file>_<language>; OpenEvolve: the config's folder).")
@_user_errors
def new_task(reference: Path | None, openevolve_config: Path | None, language: str | None, program: Path | None,
             evaluator: Path | None, out_dir: Path | None) -> None:
    """Write a task folder from a KernelBench problem file or an OpenEvolve config.

    --from-kernelbench FILE: a kernel task (task.yaml, reference.py, initial.py). The reference
    is run on the CPU (in a child process) to choose and check the task's CPU shape, further
    shapes and adversarial inputs; a reference that fails there is refused.

    --from-openevolve CONFIG: a program task.yaml (beside the config, or in --out DIR) that
    references the initial program and evaluator where they are and carries over the config's
    settings; every setting it cannot carry is named on one line. Check it with `agent check`."""
    from agent.config import ConfigError

    if (reference is None) == (openevolve_config is None):
        raise ConfigError("new-task: give exactly one of --from-kernelbench FILE or --from-openevolve CONFIG")
    if reference is not None:
        if program is not None or evaluator is not None:
            raise ConfigError("new-task: --program and --evaluator go with --from-openevolve")
        from agent.new_task import make_kernelbench_task

        made = make_kernelbench_task(reference, language or "triton", out_dir)
        for line in made.summary:
            click.echo(line)
        target = made.task_yaml
        click.echo(f"wrote {target} (+ reference.py, initial.py); run: agent evolve {target} --model <litellm model>")
        return
    if language is not None:
        raise ConfigError("new-task: --language goes with --from-kernelbench (an OpenEvolve config names its own)")
    from agent.openevolve_task import import_openevolve

    made = import_openevolve(openevolve_config, program=program, evaluator=evaluator, out=out_dir)
    for line in made.not_carried:
        click.echo(f"not carried over: {line}")
    for line in made.notes:
        click.echo(line)
    click.echo(f"wrote {made.task_yaml} (it uses {', '.join(made.uses)} where they are; nothing copied); "
               f"check it: agent check {made.task_yaml}")


@cli.command()
@click.argument("task_file", type=click.Path(path_type=Path))
@click.option("--program", type=click.Path(path_type=Path), help="Evaluate this file instead of the task's program.")
@_user_errors
def check(task_file: Path, program: Path | None) -> None:
    """Evaluate the task's initial program once (no LLM, no budget, no store) and show its
    status, fitness, metrics, stage timings and feedback.

    Exit codes: 0 the program is correct; 1 it is not, or the evaluator or sandbox failed
    (the reason on one line on stderr); 2 a mistake in the task file or options."""
    from agent.check import run_check
    from agent.failures import RunFailed

    try:
        outcome = run_check(task_file, program, click.echo)
    except RunFailed as exc:
        _fail(str(exc))
    if outcome.failure is not None:
        _fail(outcome.failure)


def _store_urls(store_url: str | None) -> list[str]:
    if store_url:
        return [store_url]
    return [f"sqlite:///{p}" for p in sorted(Path("runs").glob("*.db"))]


class _open_run:
    """Find a run by id prefix in the given store, or in every runs/*.db here."""

    def __init__(self, run_ref: str, store_url: str | None):
        self._ref = run_ref
        self._url = store_url
        self._store = None

    def __enter__(self):
        from agent.config import ConfigError
        from archives.store import Store, StoreDamaged, StoreError

        urls = _store_urls(self._url)
        if not urls:
            raise ConfigError("no store found: pass --store URL (no runs/*.db here)")
        for url in urls:
            store = None
            try:
                store = Store(url, create=False)  # a mistyped URL is an error, not a new store
                run = store.get_run(self._ref)
            except StoreError as exc:
                if store is not None:
                    store.close()
                if len(urls) == 1 or isinstance(exc, StoreDamaged):
                    raise
                continue
            self._store = store
            return store, run
        raise ConfigError(f"no run {self._ref!r} in {', '.join(urls)}")

    def __exit__(self, *exc) -> None:
        if self._store is not None:
            self._store.close()


def _latest_activity(store, run_id: str) -> float | None:
    times = [p.evaluated_at or p.created_at for p in store.programs(run_id)]
    return max(times) if times else None


from agent.knowledge_cli import add_parser as _add_knowledge  # noqa: E402 - after `cli` exists

_add_knowledge(cli)

from agent.suites.cli import add_parser as _add_suite  # noqa: E402 - after `cli` exists

_add_suite(cli)


def main() -> None:
    cli(prog_name="agent")


if __name__ == "__main__":
    main()
