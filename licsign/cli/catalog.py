"""``licsign product ...`` and ``licsign customer ...``."""

from __future__ import annotations

import json
import re

import click

from licsign.cli._context import Context, emit_json, now_utc, pass_context, table

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_FEATURE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}\Z")


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(product)
    cli.add_command(customer)


def _check_id(value: str, what: str) -> str:
    if not _ID.match(value):
        raise click.BadParameter(
            f"{value!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            param_hint=what,
        )
    return value


@click.group()
def product() -> None:
    """Products you license."""


def _check_name(value: str | None, what: str) -> None:
    if value is not None and (not value.strip() or len(value) > 256 or not value.isprintable()):
        raise click.BadParameter(f"{value!r}: use 1-256 printable characters", param_hint=what)


@product.command("add")
@click.argument("product_id")
@click.option("--name", help="Display name (default: the id).")
@click.option(
    "--feature", "features", multiple=True, help="A feature licenses may grant (repeatable)."
)
@pass_context
def product_add(ctx: Context, product_id: str, name: str | None, features: tuple[str, ...]) -> None:
    """Add a product. Its id is what applications pass as --product."""
    _check_id(product_id, "PRODUCT_ID")
    _check_name(name, "--name")
    for f in features:
        if not _FEATURE.match(f):
            raise click.BadParameter(f"{f!r} is not a valid feature name", param_hint="--feature")
    ctx.workspace().ledger.add_product(
        int(now_utc().timestamp()), product_id, name or product_id, list(features)
    )
    click.echo(f"Added product {product_id}")


@product.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def product_list(ctx: Context, as_json: bool) -> None:
    """List products."""
    rows = [{"id": r["id"], "name": r["name"], "features": json.loads(r["features"])}
            for r in ctx.workspace().ledger.products()]  # fmt: skip
    if as_json:
        emit_json(rows)
        return
    table(
        [[r["id"], r["name"], ",".join(r["features"]) or "-"] for r in rows],
        ["ID", "NAME", "FEATURES"],
    )


@click.group()
def customer() -> None:
    """Customers you license to."""


@customer.command("add")
@click.argument("customer_id")
@click.option("--name", help="Display name (default: the id).")
@click.option("--email", help="Contact e-mail.")
@pass_context
def customer_add(ctx: Context, customer_id: str, name: str | None, email: str | None) -> None:
    """Add a customer."""
    _check_id(customer_id, "CUSTOMER_ID")
    _check_name(name, "--name")
    if email is not None and (
        "@" not in email or len(email) > 254 or not email.isprintable() or " " in email
    ):
        raise click.BadParameter(f"{email!r} is not an e-mail address", param_hint="--email")
    ctx.workspace().ledger.add_customer(
        int(now_utc().timestamp()), customer_id, name or customer_id, email
    )
    click.echo(f"Added customer {customer_id}")


@customer.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def customer_list(ctx: Context, as_json: bool) -> None:
    """List customers."""
    rows = [
        {"id": r["id"], "name": r["name"], "email": r["email"]}
        for r in ctx.workspace().ledger.customers()
    ]
    if as_json:
        emit_json(rows)
        return
    table([[r["id"], r["name"], r["email"] or "-"] for r in rows], ["ID", "NAME", "EMAIL"])
