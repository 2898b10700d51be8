"""The ``herald`` command."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel

from herald import aio
from herald.settings import Settings

app = typer.Typer(help="Herald: customer notifications over SMS, email, push and wallet passes.",
                  no_args_is_help=True, add_completion=False)
fake = typer.Typer(help="Local fake provider servers for demos, tests and benchmarks.", no_args_is_help=True)
app.add_typer(fake, name="fake")
console = Console(stderr=True)

HostOpt = Annotated[str | None, typer.Option(help="Bind address (default HERALD_HOST or 127.0.0.1)")]
PortOpt = Annotated[int | None, typer.Option(help="Port (default HERALD_PORT or 8000)")]


def _settings(host: str | None = None, port: int | None = None) -> Settings:
    settings = Settings()
    updates = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    return settings.model_copy(update=updates) if updates else settings


def _prepare(settings: Settings) -> None:
    """Migrate, then create the first workspace and credentials if there are none."""
    from herald.bootstrap import first_start
    from herald.crypto import Keyring
    from herald.db.migrate import upgrade
    from herald.db.session import make_engine

    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)

    async def boot() -> None:
        engine = make_engine(settings.effective_database_url, pool_size=1)
        try:
            made = await first_start(settings, engine, Keyring.from_settings(settings))
        finally:
            await engine.dispose()
        if made:
            lines = [
                "[bold]Herald is set up.[/bold] These credentials are shown once; keep them.",
                f"Console admin:  {made.admin_email}  password: "
                + (made.admin_password or "(from HERALD_ADMIN_PASSWORD)"),
                f"API client id:  {made.client_id}",
                "API secret:     " + (made.client_secret or "(from HERALD_CLIENT_SECRET)"),
                "Demo providers (kind 'file') write every message to " + str(settings.outbox_dir),
            ]
            console.print(Panel("\n".join(lines), title="first start"))

    asyncio.run(boot())


@app.command()
def serve(host: HostOpt = None, port: PortOpt = None) -> None:
    """API, console, dispatcher and scheduler in one process (SQLite under ./var unless configured)."""
    import uvicorn

    from herald.app import create_app

    settings = _settings(host, port)
    _prepare(settings)
    console.print(f"Herald listening on http://{settings.host}:{settings.port}  (docs at /docs)")
    uvicorn.run(create_app(settings, with_worker=True), host=settings.host, port=settings.port,
                log_level="warning", access_log=False)


@app.command()
def api(host: HostOpt = None, port: PortOpt = None) -> None:
    """The HTTP API only; run `herald worker` processes beside it (run `herald migrate` first)."""
    import uvicorn

    from herald.app import create_app

    settings = _settings(host, port)
    uvicorn.run(create_app(settings, with_worker=False), host=settings.host, port=settings.port,
                log_level="warning", access_log=False)


@app.command()
def worker() -> None:
    """The dispatcher and job runner only. Run as many as you like over PostgreSQL."""
    from herald.crypto import Keyring
    from herald.db.session import make_engine
    from herald.logs import configure_logging
    from herald.metrics import Metrics
    from herald.worker import Worker

    settings = _settings()
    configure_logging(settings.log_level, json=settings.log_json)

    async def main() -> None:
        engine = make_engine(settings.effective_database_url)
        w = Worker(settings, engine, Keyring.from_settings(settings), Metrics())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, w.stop.set)
        try:
            await w.run_forever()
        finally:
            await engine.dispose()

    aio.run(main())


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The CSV file")],
    list_name: Annotated[str, typer.Option("--list", help="The list to import into (made when missing)")],
    key: Annotated[str | None, typer.Option(help="Match contacts on external_id, email or phone")] = None,
    map_: Annotated[list[str] | None,
                    typer.Option("--map", help="COLUMN=TARGET, repeatable (e.g. Mobile=phone)")] = None,
    region: Annotated[str | None, typer.Option(help="Region for numbers without +country (default: workspace)")] = None,
    workspace: Annotated[str | None, typer.Option(help="Workspace id (default: the first)")] = None,
) -> None:
    """Import contacts from a CSV file into a list, with a progress bar and a report of failed rows."""
    from herald import errors
    from herald.db.session import make_engine
    from herald.imports import cli as importer

    settings = _settings()
    _prepare(settings)
    mapping: dict[str, str] | None = None
    for pair in map_ or []:
        column, sep, target = pair.partition("=")
        if not sep or not column or not target:
            console.print(f"[red]--map {pair!r}: write COLUMN=TARGET[/red]")
            raise typer.Exit(2)
        mapping = {**(mapping or {}), column: target}

    async def main() -> int:
        engine = make_engine(settings.effective_database_url)
        try:
            return await importer.run(engine, console, file, list_name=list_name, workspace_id=workspace,
                                      mapping=mapping, key=key, region=region, max_bytes=settings.max_import_bytes)
        finally:
            await engine.dispose()

    try:
        code = aio.run(main())
    except errors.HeraldError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from exc
    raise typer.Exit(code)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (also creates the first workspace and credentials)."""
    _prepare(_settings())
    console.print("Database is up to date.")


@fake.command("smtp")
def fake_smtp(host: str = "127.0.0.1", port: int = 2525) -> None:
    """An SMTP sink that accepts and counts every message."""
    from herald.fakes import smtp

    aio.run(smtp.serve(host, port))


@fake.command("twilio")
def fake_twilio(
    host: str = "127.0.0.1", port: int = 8081,
    account_sid: str = "AC00000000000000000000000000000000",
    auth_token: str = "fake-twilio-token",  # noqa: S107 - the fake's own demo credential
    callbacks: bool = True,
) -> None:
    """An HTTP server shaped like Twilio's Messages API, with signed status callbacks."""
    from herald.fakes import twilio

    aio.run(twilio.serve(host, port, account_sid, auth_token, callbacks))


def main() -> None:
    app()
