"""`agent suite`: run a benchmark suite (`run`), list suites (`list`), report one (`report`) or
compare two (`compare`). Wired into `agent` with `add_parser(cli)` (agent/cli.py).

Mistakes end in one line on stderr and exit code 2, like the other commands. `suite run` exits
0 when every problem was run (whatever its outcome), 1 when an error that would fail every
problem stopped it, 130 (143) when Ctrl-C (SIGTERM) stopped it.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from agent.cli_errors import user_errors as _user_errors

__all__ = ["add_parser", "suite"]

_STORE_HELP = "SQLAlchemy URL of the store of suites (default sqlite:///runs/suites.db)."


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def suite() -> None:
    """Run evoforge over a whole benchmark, and report it as papers do."""


@suite.command("run")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--name", help="The suite's name (default: the first PATH's folder name or stem). Same name: resume.")
@click.option("--language", type=click.Choice(["triton", "cuda"]), help="What candidates are written in (default triton).")
@click.option("--evaluations", type=click.IntRange(min=1), help="Evaluations per problem (default 20 without --dollars).")
@click.option("--dollars", type=click.FloatRange(min=0), help="LLM spend limit per problem, in US dollars.")
@click.option("--parallel", type=click.IntRange(min=1), help="Problems at once (default 1).")
@click.option("--model", help="litellm model string for every problem.")
@click.option("--api-base", help="OpenAI-compatible server URL for the model.")
@click.option("--strategy", help="Search strategy name or dotted path.")
@click.option("--workers", type=click.IntRange(min=1), help="Evaluations at once within a problem.")
@click.option("--store", "store_url", help=_STORE_HELP)
@click.option("--share-knowledge/--no-share-knowledge", default=None,
              help="One knowledge base for all the suite's problems (learning.knowledge on in every task).")
@click.option("--dir", "dir_", type=click.Path(path_type=Path), help="Folder of the suite's task folders (default suites/NAME).")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines; errors and the final table only.")
@_user_errors
def run(paths: tuple[Path, ...], name: str | None, store_url: str | None, dir_: Path | None, quiet: bool,
        **options) -> None:
    """Run every problem of PATH... through `agent evolve`, each with the same budget.

    PATH: a folder of KernelBench problem files, a list file (.txt, one path a line), a
    KernelBench .py file or a task.yaml. Run again with the same --name to resume: finished
    problems are not run again. Without PATH, --name resumes a suite with its stored settings.
    """
    from agent.suites.problems import collect
    from agent.suites.runner import SuiteRunner
    from agent.suites.settings import DEFAULT_STORE, default_name, new_settings, resumed_settings
    from archives.records import Suite
    from archives.store import shown_url

    name = name or default_name(paths)
    if options.get("strategy"):
        _check_strategy(options["strategy"])
    options["dir"] = dir_
    url = store_url or _default_store()
    with _store(url, create=True) as store:
        stored = store.find_suite(name)
        if stored is None:
            settings = new_settings(name, paths, options)
        else:
            settings = resumed_settings(name, stored.config, paths, options)
        collected = collect(tuple(Path(p) for p in settings.paths))
        if settings.model is None and any(p.kernelbench for p in collected.problems):
            from agent.config import ConfigError

            raise ConfigError("the tasks made from KernelBench files name no LLM to write their kernels: pass "
                              "--model (and --api-base for an OpenAI-compatible server)")
        if stored is None:
            stored = store.add_suite(Suite(name, settings.to_config()))
        echo = (lambda line: None) if quiet else (lambda line: click.echo(line))
        for line in collected.skipped:
            echo(f"skipped {line}")
        count = len(collected.problems)
        echo(f"suite {name}: {count} problem{'s' if count != 1 else ''}, {_budget_text(settings)} each, "
             f"{settings.parallel} at once; store {shown_url(url)}")
        outcome = SuiteRunner(store, url, stored, settings, collected.problems, echo).run()
        store_option = "" if url == DEFAULT_STORE else f" --store {shlex.quote(shown_url(url))}"
        again = f"agent suite run --name {shlex.quote(name)}{store_option}"
        if outcome.fatal is not None:
            click.echo(f"error: suite stopped: {outcome.fatal} (this would fail every problem); "
                       f"fix it and continue with: {again}", err=True)
            sys.exit(1)
        if outcome.exit_code:
            click.echo(f"stopped; continue with: {again}")
            sys.exit(outcome.exit_code)
        _print_table(store, name)
        click.echo(f"full report: agent suite report {shlex.quote(name)}{store_option} --out report.html")


def _budget_text(settings) -> str:
    """'20 evaluations', '$0.5' or '20 evaluations and $0.5'."""
    parts = [f"{settings.evaluations} evaluations"] if settings.evaluations is not None else []
    parts += [f"${settings.dollars:g}"] if settings.dollars is not None else []
    return " and ".join(parts) or "the tasks' own budget"


def _check_strategy(name: str) -> None:
    """An unknown --strategy would fail every problem: say so before any is run."""
    from agent.config import ConfigError
    from agent.plugins import PluginError, resolve

    try:
        resolve("strategies", name)
    except PluginError as exc:
        raise ConfigError(f"--strategy: {exc}") from None


def _print_table(store, name: str) -> None:
    from agent.suites.render import render_terminal
    from agent.suites.report import build_report

    click.echo(render_terminal(build_report(store, name)).rstrip("\n"))


@suite.command("list")
@click.option("--store", "store_url", help=_STORE_HELP)
@_user_errors
def list_suites(store_url: str | None) -> None:
    """List the suites in the store: problems and where they stand."""
    from archives.store import shown_url

    url = store_url or _default_store()
    with _store(url, create=False) as store:
        suites = store.suites()
        if not suites:
            click.echo(f"no suites in {shown_url(url)}: start one with `agent suite run FOLDER`")
            return
        from agent.suites.report import build_report

        for one in suites:
            made = build_report(store, one.name)  # correct as the report counts it
            shown = ", ".join(f"{s} {n}" for s, n in sorted(made.statuses.items()) if n)
            click.echo(f"{one.name}: {made.problems} problems, {made.correct} correct ({shown})")


@suite.command("report")
@click.argument("name")
@click.option("--store", "store_url", help=_STORE_HELP)
@click.option("--out", "out_path", type=click.Path(path_type=Path),
              help="Write it here: .md, .html or .json (default: markdown on stdout).")
@_user_errors
def report(name: str, store_url: str | None, out_path: Path | None) -> None:
    """Report a suite: per problem correct or not (and why), runtime, speedups, spend; overall
    correct share, fast_1 / fast_1.2 / fast_2 over eager and torch.compile, geometric mean."""
    from agent.suites.render import render
    from agent.suites.report import build_report

    fmt = _format(out_path)
    with _store(store_url or _default_store(), create=False) as store:
        text = render(build_report(store, name), fmt)
    _write(text, out_path)


@suite.command("compare")
@click.argument("first")
@click.argument("second")
@click.option("--store", "store_url", help=_STORE_HELP)
@click.option("--out", "out_path", type=click.Path(path_type=Path),
              help="Write it here: .md, .html or .json (default: markdown on stdout).")
@_user_errors
def compare(first: str, second: str, store_url: str | None, out_path: Path | None) -> None:
    """Two suites side by side (e.g. two models on one benchmark): per problem and overall."""
    from agent.suites.compare import build_comparison, render_comparison

    fmt = _format(out_path)
    with _store(store_url or _default_store(), create=False) as store:
        text = render_comparison(build_comparison(store, first, second), fmt)
    _write(text, out_path)


def _format(out_path: Path | None) -> str:
    """The report's format by --out's suffix; markdown on stdout without --out."""
    from agent.cli_errors import UserError
    from agent.suites.render import format_for

    if out_path is None:
        return "markdown"
    try:
        return format_for(out_path)
    except ValueError as exc:
        raise UserError(f"--out {exc}") from None


def _write(text: str, out_path: Path | None) -> None:
    from agent.cli_errors import UserError

    if out_path is None:
        click.echo(text)
        return
    try:
        out_path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {out_path}: {exc.strerror or exc}") from None
    click.echo(f"wrote {out_path}")


def _default_store() -> str:
    from agent.suites.settings import DEFAULT_STORE

    return DEFAULT_STORE


def _store(url: str, *, create: bool):
    """The store; the default one's runs/ folder is made when a suite is run."""
    from agent.suites.settings import DEFAULT_STORE
    from archives.store import Store

    if create and url == DEFAULT_STORE:
        Path("runs").mkdir(exist_ok=True)
    return Store(url, create=create)


def add_parser(cli: click.Group) -> None:
    """Add `suite` to the `agent` command group."""
    cli.add_command(suite)
