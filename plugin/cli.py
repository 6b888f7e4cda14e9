"""The `uplift` command. Settings are built here, once, and handed to everything else.

Operator mistakes (bad settings, an unreachable database, a missing key) end with one line on
stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from plugin import __version__, auth, storage
from plugin.billing.catalog_sync import sync_catalog
from plugin.billing.stripe_gateway import StripeGateway
from plugin.clock import SystemClock
from plugin.errors import OperatorError, StripeError, Terminated
from plugin.settings import Settings, load_settings
from plugin.storage import Database, DatabaseError
from plugin.storage.admin_keys import Role

EXIT_USAGE = 2
EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process SIGTERM ended


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="uplift", description="Self-hosted upsell and cross-sell server for Stripe."
    )
    parser.add_argument("--version", action="version", version=f"uplift {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="apply migrations, then serve HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)

    demo = commands.add_parser("demo", help="self-contained demo: local Stripe, catalog, server")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--simulate", type=int, metavar="N", help="first drive N synthetic customers")

    commands.add_parser("migrate", help="apply database migrations")

    admin_key = commands.add_parser("admin-key", help="manage admin API keys")
    admin_key_commands = admin_key.add_subparsers(dest="admin_key_command", required=True)
    create = admin_key_commands.add_parser("create", help="print a new admin key once")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--role",
        choices=["admin", "read_only"],
        default="admin",
        help="read_only: GET only (the dashboard, lists, results)",
    )

    token = commands.add_parser("customer-token", help="print a customer token for the widget")
    token.add_argument("--customer", required=True, help="the SaaS's own customer id (sub)")
    token.add_argument("--ttl", type=int, default=auth.DEFAULT_TOKEN_TTL, help="seconds")
    token.add_argument("--stripe-customer", help="the customer's Stripe id (cus_…)")
    token.add_argument("--attrs", help="segment attributes as a JSON object")

    commands.add_parser(
        "prorate", help="read one plan change as JSON on stdin, print the proration quote"
    )

    catalog = commands.add_parser("catalog", help="the product catalog")
    catalog_commands = catalog.add_subparsers(dest="catalog_command", required=True)
    catalog_commands.add_parser("sync", help="pull products and prices from Stripe")

    backfill = commands.add_parser(
        "import", help="import the Stripe account's subscriptions and their history (MRR)"
    )
    backfill.add_argument(
        "--customer", action="append", default=[], metavar="CUS", help="only this customer's"
    )
    backfill.add_argument("--page-size", type=int, default=100, help="objects per Stripe page")
    return parser


async def _with_db(settings: Settings, run: Callable[[Database], Awaitable[None]]) -> None:
    db = await storage.connect(settings.database_url)
    try:
        await run(db)
    finally:
        await db.close()


async def _require_current_schema(db: Database) -> None:
    if await storage.migrations.pending(db):
        raise OperatorError("the database schema is not current; run `uplift migrate` first")


async def migrate(settings: Settings) -> None:
    async def run(db: Database) -> None:
        applied = await storage.migrations.apply(db, now=SystemClock().now())
        head = storage.migrations.available()[-1].version
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied) or "none"
        print(f"applied migrations: {names}; schema at version {head}")

    await _with_db(settings, run)


async def create_admin_key(settings: Settings, name: str, role: Role = "admin") -> None:
    async def run(db: Database) -> None:
        await _require_current_schema(db)
        key, record = await auth.create_admin_key(db, name=name, role=role, now=SystemClock().now())
        print(key)
        print(
            f"created {record.role} key {record.id} ({record.name}); it is shown only once",
            file=sys.stderr,
        )

    await _with_db(settings, run)


def customer_token(settings: Settings, args: argparse.Namespace) -> None:
    if settings.widget_secret is None:
        raise OperatorError("UPLIFT_WIDGET_SECRET is not set")
    attrs: Any = None
    if args.attrs:
        try:
            attrs = json.loads(args.attrs)
        except ValueError:
            raise OperatorError("--attrs is not valid JSON") from None
        if not isinstance(attrs, dict):
            raise OperatorError("--attrs must be a JSON object")
    try:
        token = auth.issue_customer_token(
            secret=settings.widget_secret.get_secret_value(),
            customer_id=args.customer,
            now=SystemClock().now(),
            ttl=args.ttl,
            stripe_customer=args.stripe_customer,
            attrs=attrs,
        )
    except ValueError as exc:
        raise OperatorError(str(exc)) from None
    print(token)


def prorate(stdin: str) -> None:
    """`uplift prorate`: one change document in (an example's `inputs`, or the whole example
    line), the quote out; a bad document is one line naming the field."""
    from pydantic import ValidationError

    from plugin.api.bodies import field_path
    from plugin.api.schemas import ProrationIn, quote_document
    from plugin.billing.proration import ProrationError
    from plugin.billing.proration import prorate as quote

    try:
        document = json.loads(stdin)
    except ValueError:
        raise OperatorError("stdin is not a JSON document") from None
    if isinstance(document, dict) and isinstance(document.get("inputs"), dict):
        document = document["inputs"]
    try:
        change = ProrationIn.model_validate(document).to_domain()
        result = quote(change)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = field_path(first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise OperatorError(f"{where}: {message}" if where else message) from None
    except ProrationError as exc:
        raise OperatorError(str(exc)) from None
    print(json.dumps(quote_document(result), ensure_ascii=False, indent=2))


def gateway_for(settings: Settings) -> StripeGateway:
    if settings.stripe_api_key is None:
        raise OperatorError("UPLIFT_STRIPE_API_KEY is not set")
    return StripeGateway(
        api_key=settings.stripe_api_key.get_secret_value(), api_base=settings.stripe_api_base
    )


async def catalog_sync(settings: Settings) -> None:
    gateway = gateway_for(settings)

    async def run(db: Database) -> None:
        await _require_current_schema(db)
        products, prices = await sync_catalog(db, gateway, now=SystemClock().now())
        print(f"synced {products} products and {prices} prices from Stripe")

    try:
        await _with_db(settings, run)
    finally:
        await gateway.close()


async def import_account(settings: Settings, args: argparse.Namespace) -> None:
    """`uplift import`: progress and the summary on stderr (stdout stays empty)."""
    from plugin.billing.importer import import_account as run_import
    from plugin.billing.money import Money

    if not 1 <= args.page_size <= 100:
        raise OperatorError("--page-size must be between 1 and 100")
    gateway = gateway_for(settings)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    async def run(db: Database) -> None:
        await _require_current_schema(db)
        summary = await run_import(
            db,
            gateway,
            now=SystemClock().now(),
            customers=args.customer,
            page_size=args.page_size,
            progress=progress,
        )
        mrr = ", ".join(
            f"{currency}: {Money(amount, currency).format()}"
            for currency, amount in sorted(summary.mrr.items())
        )
        progress(
            f"imported {summary.subscriptions} subscriptions of {len(summary.customers)} "
            f"customers, {summary.invoices} invoices read, {summary.added} snapshots added; "
            f"MRR now: {mrr or 'none'}"
        )

    try:
        await _with_db(settings, run)
    finally:
        await gateway.close()


def serve(settings: Settings, args: argparse.Namespace) -> None:
    from plugin.server import run_server

    if settings.stripe_api_key is None:
        raise OperatorError("UPLIFT_STRIPE_API_KEY is not set; `uplift serve` needs a Stripe key")
    if args.workers < 1:
        raise OperatorError("--workers must be at least 1")
    asyncio.run(migrate(settings))
    run_server(settings, host=args.host, port=args.port, workers=args.workers)


def _dispatch(args: argparse.Namespace) -> None:
    if args.command == "prorate":  # pure: needs no settings, database or Stripe
        prorate(sys.stdin.read())
        return
    settings = load_settings()
    match args.command:
        case "serve":
            serve(settings, args)
        case "demo":
            from plugin.demo.run import run_demo

            if args.simulate is not None:
                from plugin.demo import simulate

                simulate.run_demo(settings, port=args.port, customers=args.simulate)
                return
            run_demo(settings, port=args.port)
        case "migrate":
            asyncio.run(migrate(settings))
        case "admin-key":
            asyncio.run(create_admin_key(settings, args.name, args.role))
        case "customer-token":
            customer_token(settings, args)
        case "catalog":
            asyncio.run(catalog_sync(settings))
        case "import":
            asyncio.run(import_account(settings, args))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        _dispatch(args)
    except (DatabaseError, OperatorError) as exc:
        print(f"uplift: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StripeError as exc:
        print(f"uplift: Stripe: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Terminated:
        return EXIT_TERMINATED
    return 0
