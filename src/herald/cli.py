"""The ``herald`` command."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.console import Console
from rich.panel import Panel

from herald import aio
from herald.settings import Settings

app = typer.Typer(help="Herald: customer notifications over SMS, email, push and wallet passes.",
                  no_args_is_help=True, add_completion=False)
fake = typer.Typer(help="Local fake provider servers for demos, tests and benchmarks.", no_args_is_help=True)
app.add_typer(fake, name="fake")
campaign = typer.Typer(help="Campaigns: create, start, pause, resume, stop, and watch their progress.",
                       no_args_is_help=True)
app.add_typer(campaign, name="campaign")
console = Console(stderr=True)

HostOpt = Annotated[str | None, typer.Option(help="Bind address (default HERALD_HOST or 127.0.0.1)")]
PortOpt = Annotated[int | None, typer.Option(help="Port (default HERALD_PORT or 8000)")]


def _settings(host: str | None = None, port: int | None = None) -> Settings:
    settings = Settings()
    updates = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    return settings.model_copy(update=updates) if updates else settings


def apart_on_sqlite(settings: Settings, command: str) -> str | None:
    """The warning for `herald api` or `herald worker` on SQLite, which takes one writer at a time across
    processes: a worker beside an API waits its turn behind every request's commit and hears of new messages
    only at its next poll (measured at 500 events/s: seconds of delay, against tens of ms in `herald serve`)."""
    if not settings.effective_database_url.startswith("sqlite"):
        return None
    return (f"herald {command} on SQLite: SQLite takes one writer at a time, so an API and a worker in separate "
            "processes queue for it and messages go out late. On SQLite run `herald serve` (API and worker in "
            "one process); run `herald api` and `herald worker` apart over PostgreSQL.")


def _warn_apart(settings: Settings, command: str) -> None:
    if (warning := apart_on_sqlite(settings, command)) is not None:
        console.print(f"[yellow]{warning}[/yellow]")


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
    uvicorn.run(create_app(settings, with_worker=True, settle_gc=True), host=settings.host, port=settings.port,
                log_level="warning", access_log=False)


@app.command()
def api(host: HostOpt = None, port: PortOpt = None) -> None:
    """The HTTP API only; run `herald worker` processes beside it (run `herald migrate` first)."""
    import uvicorn

    from herald.app import create_app

    settings = _settings(host, port)
    _warn_apart(settings, "api")
    uvicorn.run(create_app(settings, with_worker=False, settle_gc=True), host=settings.host, port=settings.port,
                log_level="warning", access_log=False)


@app.command()
def worker() -> None:
    """The dispatcher and job runner only. Run as many as you like over PostgreSQL."""
    from herald import gcpolicy
    from herald.crypto import Keyring
    from herald.db.session import make_engine
    from herald.logs import configure_logging
    from herald.metrics import Metrics
    from herald.worker import Worker

    settings = _settings()
    configure_logging(settings.log_level, json=settings.log_json)
    _warn_apart(settings, "worker")

    async def main() -> None:
        engine = make_engine(settings.effective_database_url)
        w = Worker(settings, engine, Keyring.from_settings(settings), Metrics())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, w.stop.set)
        gcpolicy.settle()
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


@fake.command("vonage")
def fake_vonage(
    host: str = "127.0.0.1", port: int = 8082,
    api_key: str = "fakekey1",
    api_secret: str = "fake-vonage-secret",  # noqa: S107 - the fake's own demo credential
    signature_secret: Annotated[str | None, typer.Option(help="Sign DLRs and inbound webhooks (md5hash)")] = None,
    callbacks: bool = True,
) -> None:
    """An HTTP server shaped like Vonage's SMS API, posting delivery receipts to each message's callback."""
    from herald.fakes import vonage

    aio.run(vonage.serve(host, port, api_key, api_secret, signature_secret, callbacks))


@fake.command("smsc")
def fake_smsc(
    host: str = "127.0.0.1", port: int = 2775,
    system_id: str = "herald",
    password: str = "fakesmsc",  # noqa: S107 - the fake's own demo credential
    receipts: Annotated[bool, typer.Option(help="Send a DELIVRD receipt for each message")] = True,
) -> None:
    """An SMPP 3.4 SMSC (bind_transceiver) for the smpp provider kind, sending delivery receipts."""
    from herald.fakes import smsc

    aio.run(smsc.serve(host, port, system_id, password, receipts))


@fake.command("clickatell")
def fake_clickatell(
    host: str = "127.0.0.1", port: int = 8083,
    api_key: str = "fake-clickatell-api-key==",
    callback_url: Annotated[str | None, typer.Option(help="Status callback URL, with Herald's ?token=")] = None,
    callbacks: bool = True,
) -> None:
    """An HTTP server shaped like Clickatell's Platform API, posting status callbacks to --callback-url."""
    from herald.fakes import clickatell

    aio.run(clickatell.serve(host, port, api_key, callback_url, callbacks))


@fake.command("httpsms")
def fake_httpsms(
    host: str = "127.0.0.1", port: int = 8084,
    auth: Annotated[str, typer.Option(help="Credential /send requires: bearer | basic | none")] = "bearer",
    token: str = "fake-httpsms-token",  # noqa: S107 - the fake's own demo credential
    username: str = "herald",
    password: str = "fake-httpsms-password",  # noqa: S107 - the fake's own demo credential
) -> None:
    """A generic SMS gateway (form, JSON or GET at /send) for the http provider kind."""
    from herald.fakes import httpsms

    if auth not in ("bearer", "basic", "none"):
        raise typer.BadParameter("auth must be bearer, basic or none", param_hint="--auth")
    aio.run(httpsms.serve(host, port, cast("httpsms.AuthMode", auth), token, username, password))


@fake.command("webhook")
def fake_webhook(
    host: str = "127.0.0.1", port: int = 8085,
    secret: Annotated[str, typer.Option(help="The Standard Webhooks secret it verifies (whsec_...)")] = "",
) -> None:
    """A webhook receiver (POST /hooks) that verifies Standard Webhooks signatures, for the webhook kind."""
    from herald.channels.webhook import signing_key
    from herald.fakes import webhook

    try:
        signing_key(secret or webhook.DEFAULT_SECRET)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--secret") from None
    aio.run(webhook.serve(host, port, secret or webhook.DEFAULT_SECRET))


WorkspaceOpt = Annotated[str | None, typer.Option(help="Workspace id (default: the first)")]


def _campaigns(work: Any) -> int:
    """Run one campaign command against the database; a refused one prints its reason and exits 2."""
    from herald import errors
    from herald.db.session import make_engine

    settings = _settings()
    _prepare(settings)

    async def main() -> int:
        engine = make_engine(settings.effective_database_url)
        try:
            return int(await work(engine))
        finally:
            await engine.dispose()

    try:
        return aio.run(main())
    except errors.HeraldError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from exc
    except ValueError as exc:  # pydantic's ValidationError: a bad option value
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


@campaign.command("create")
def campaign_create(
    name: Annotated[str, typer.Argument(help="The campaign's name")],
    lists: Annotated[list[str], typer.Option("--list", help="Audience list (id or name), repeatable")],
    template: Annotated[str | None, typer.Option(help="Template id or name")] = None,
    message_column: Annotated[str | None, typer.Option(help="A list column holding each contact's text")] = None,
    channel: Annotated[str, typer.Option(help="sms or email")] = "sms",
    subject: Annotated[str | None, typer.Option(help="Email subject (with --message-column)")] = None,
    classification: Annotated[str, typer.Option(help="direct_marketing, service, financial, ...")] =
        "direct_marketing",
    dnc: Annotated[list[str] | None, typer.Option("--dnc", help="A DNC list to check, repeatable")] = None,
    throttle: Annotated[float | None, typer.Option(help="Messages per second at most")] = None,
    start_at: Annotated[str | None, typer.Option(help="ISO-8601 start time (default: when started)")] = None,
    window: Annotated[str | None, typer.Option(help="Daily send window, recipient local time: 09:00-20:00")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Create a campaign (a draft)."""
    from herald.campaigns import cli as campaigns

    body: dict[str, Any] = {"name": name, "channel": channel, "lists": lists, "template": template,
                            "message_column": message_column, "subject": subject, "classification": classification,
                            "dnc_lists": dnc or [], "throttle_per_second": throttle, "start_at": start_at}
    if window:
        start, _, end = window.partition("-")
        body["send_window"] = {"start": start, "end": end}
    async def work(engine: Any) -> int:
        await campaigns.create(engine, console, workspace, body)
        return 0

    _campaigns(work)


def _action(action: str) -> None:
    @campaign.command(action, help=f"{action.capitalize()} a campaign.")
    def command(ref: Annotated[str, typer.Argument(help="Campaign id or name")], workspace: WorkspaceOpt = None,
                watch: Annotated[bool, typer.Option(help="Then show its progress until it ends")] = False) -> None:
        from herald.campaigns import cli as campaigns

        async def work(engine: Any) -> int:
            await campaigns.act(engine, console, workspace, ref, action)
            return await campaigns.status(engine, console, workspace, ref, watch=True) if watch else 0

        raise typer.Exit(_campaigns(work))


for _name in ("start", "pause", "resume", "stop"):
    _action(_name)


@campaign.command("status")
def campaign_status(ref: Annotated[str, typer.Argument(help="Campaign id or name")], workspace: WorkspaceOpt = None,
                    watch: Annotated[bool, typer.Option(help="A live progress bar until it ends")] = False) -> None:
    """A campaign's counters (exit 1 when it was stopped or some sends failed)."""
    from herald.campaigns import cli as campaigns

    raise typer.Exit(_campaigns(lambda engine: campaigns.status(engine, console, workspace, ref, watch=watch)))


@campaign.command("list")
def campaign_list(workspace: WorkspaceOpt = None) -> None:
    """The campaigns, newest first."""
    from herald.campaigns import cli as campaigns

    async def work(engine: Any) -> int:
        await campaigns.listing(engine, console, workspace)
        return 0

    _campaigns(work)


def main() -> None:
    app()
