"""`agent knowledge`: list, show, export, import and prune the knowledge base's entries.

Entries live in a store (agent/learning/knowledge.py). `--store URL` names it; without it the
readers (list, show, export, prune) use every runs/*.db here and `import` the only one there.
Export and import use JSON lines (agent/learning/knowledge_io.py); import skips entries the
store already has (same id, or same transformation in the same context). Mistakes end in one
line on stderr and exit code 2, like the other commands (agent/cli.py).

The command line wires this group in with `add_parser(cli)`; `main(args)` runs it on its own
(`python -m agent.knowledge_cli list`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import click

from agent.cli_errors import user_errors as _user_errors

__all__ = ["add_parser", "knowledge", "main"]

_STORE_HELP = "SQLAlchemy URL of the store (default: every runs/*.db here)."
_SHOWN_CHARS = 90


def _urls(store_url: str | None) -> list[str]:
    from agent.config import ConfigError

    if store_url:
        return [store_url]
    urls = [f"sqlite:///{p}" for p in sorted(Path("runs").glob("*.db"))]
    if not urls:
        raise ConfigError("no store found: pass --store URL (no runs/*.db here)")
    return urls


def _entries(store_url: str | None, include_demoted: bool = True) -> list:
    from archives.store import Store

    entries = []
    for url in _urls(store_url):
        with Store(url, create=False) as store:  # a mistyped URL is an error, not a new store
            entries.extend(store.knowledge(include_demoted=include_demoted))
    return entries


def _short(text: str, limit: int = _SHOWN_CHARS) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _context(entry) -> str:
    return "/".join(entry.context.get(k, "-") or "-" for k in ("kind", "language", "op", "gpu"))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def knowledge() -> None:
    """What earlier runs learnt: entries distilled from improved programs (learning.knowledge)."""


@knowledge.command("list")
@click.option("--store", "store_url", metavar="URL", help=_STORE_HELP)
@click.option("--demoted/--no-demoted", default=True, show_default=True, help="Include demoted entries.")
@_user_errors
def list_entries(store_url: str | None, demoted: bool) -> None:
    """List the entries, one line each.

    A line shows the id, the gain, wins/uses, the context (kind/language/op/gpu) and the
    transformation; demoted entries are marked."""
    entries = _entries(store_url, include_demoted=demoted)
    if not entries:
        click.echo("no knowledge entries yet: runs with learning.knowledge.enabled write them")
        return
    for e in sorted(entries, key=lambda e: e.created_at):
        mark = " demoted" if e.demoted else ""
        record = f"{e.wins}/{e.uses} won{mark}"
        click.echo(f"{e.id[:8]}  gain {e.gain:+.4g}  {record}  {_context(e)}  {_short(e.transformation)}")


@knowledge.command()
@click.argument("entry_id")
@click.option("--store", "store_url", metavar="URL", help=_STORE_HELP)
@_user_errors
def show(entry_id: str, store_url: str | None) -> None:
    """Everything about one entry (ID or a unique prefix of it)."""
    from agent.config import ConfigError

    found = [e for e in _entries(store_url) if e.id.startswith(entry_id)]
    if not found:
        raise ConfigError(f"no knowledge entry {entry_id!r}")
    if len({e.id for e in found}) > 1:
        raise ConfigError(f"{entry_id!r} is the start of {len(found)} entries' ids: give more of it")
    e = found[0]
    rows = [
        ("id", e.id),
        ("status", f"{'demoted' if e.demoted else 'active'} ({e.wins} wins in {e.uses} uses)"),
        ("gain", f"{e.gain:+.6g}"),
        ("context", ", ".join(f"{k} {v}" for k, v in e.context.items()) or "-"),
        ("from", f"run {e.run_id or '-'}, programs {', '.join(e.program_ids) or '-'}"),
        ("created", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.created_at)) if e.created_at else "-"),
        ("transformation", e.transformation.strip()),
        ("avoid", e.avoid.strip() or "-"),
    ]
    for name, value in rows:
        click.echo(f"{name + ':':<16}{value}")
    if e.reference_excerpt.strip():
        click.echo("reference code:")
        click.echo(e.reference_excerpt.rstrip())


@knowledge.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--store", "store_url", metavar="URL", help=_STORE_HELP)
@_user_errors
def export(file: Path, store_url: str | None) -> None:
    """Write every entry (demoted ones too) to FILE as JSON lines."""
    from agent.learning.knowledge_io import write_entries

    count = write_entries(sorted(_entries(store_url), key=lambda e: e.created_at), file)
    click.echo(f"{count} entries -> {file}")


@knowledge.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--store", "store_url", metavar="URL", help="SQLAlchemy URL of the store to add to (created if missing; "
              "default: the only runs/*.db here).")  # fmt: skip
@_user_errors
def import_entries(file: Path, store_url: str | None) -> None:
    """Add FILE's entries that the store lacks.

    FILE holds JSON lines, as `export` writes them. An entry with the same id, or the same
    transformation in the same context, as one in the store is skipped."""
    from agent.config import ConfigError
    from agent.learning.knowledge_io import read_entries, same_entry
    from archives.store import Store

    entries = read_entries(file)  # every line checked before anything is added
    if store_url is None:
        urls = _urls(None)
        if len(urls) > 1:
            raise ConfigError(f"import: pass --store URL ({len(urls)} stores in runs/)")
        store_url = urls[0]
    added = skipped = 0
    with Store(store_url) as store:
        present = store.knowledge(include_demoted=True)
        for entry in entries:
            if any(same_entry(entry, other) for other in present):
                skipped += 1
                continue
            store.add_knowledge(entry)
            present.append(entry)
            added += 1
    click.echo(f"imported {added} entries from {file}, skipped {skipped} already present")


@knowledge.command()
@click.option("--store", "store_url", metavar="URL", help=_STORE_HELP)
@click.option("--demoted", is_flag=True, help="Delete demoted entries (the default when no other option is given).")
@click.option("--older-than", "days", type=click.FloatRange(min=0), metavar="DAYS",
              help="Delete entries older than this many days.")
@_user_errors
def prune(store_url: str | None, demoted: bool, days: float | None) -> None:
    """Delete demoted or old entries.

    Without options the demoted ones; with --older-than DAYS those older than that; with both,
    those that are both."""
    from archives.store import Store

    if not demoted and days is None:
        demoted = True
    cutoff = None if days is None else time.time() - days * 86400
    total = 0
    for url in _urls(store_url):
        with Store(url, create=False) as store:
            doomed = [
                e.id for e in store.knowledge(include_demoted=True)
                if (not demoted or e.demoted) and (cutoff is None or e.created_at < cutoff)
            ]  # fmt: skip
            total += store.delete_knowledge(doomed)
    click.echo(f"deleted {total} entries")


def add_parser(cli: click.Group) -> None:
    """Add `knowledge` to the `agent` command group."""
    cli.add_command(knowledge)


def main(args: Sequence[str] | None = None) -> int:
    """Run `agent knowledge ARGS` on its own; returns the exit code."""
    try:
        knowledge.main(args=list(args) if args is not None else None, prog_name="agent knowledge")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
