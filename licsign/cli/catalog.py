"""``licsign product ...`` and ``licsign customer ...``."""

from __future__ import annotations

import json
import re
from typing import Any

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


def _policy_options(f: Any) -> Any:
    f = click.option(
        "--require-component", "required", multiple=True, metavar="NAME",
        help="A fingerprint component every activation request must carry, besides "
        "machine-id (repeatable; e.g. disk, mac, cpu, hostname).",
    )(f)  # fmt: skip
    return click.option(
        "--min-components", type=click.IntRange(2, 64), metavar="N",
        help="Fewest fingerprint components an activation request may carry (default 2).",
    )(f)  # fmt: skip


def _check_components(required: tuple[str, ...]) -> list[str]:
    for name in required:
        if not _FEATURE.match(name):
            raise click.BadParameter(
                f"{name!r} is not a fingerprint component name", param_hint="--require-component"
            )
    return list(required)


@product.command("add")
@click.argument("product_id")
@click.option("--name", help="Display name (default: the id).")
@click.option(
    "--feature", "features", multiple=True, help="A feature licenses may grant (repeatable)."
)
@_policy_options
@pass_context
def product_add(ctx: Context, product_id: str, name: str | None, features: tuple[str, ...],
                min_components: int | None, required: tuple[str, ...]) -> None:  # fmt: skip
    """Add a product. Its id is what applications pass as --product.

    Activation requests for it must carry the machine-id fingerprint component
    and at least two components; --min-components and --require-component
    make that stricter.
    """
    _check_id(product_id, "PRODUCT_ID")
    _check_name(name, "--name")
    for f in features:
        if not _FEATURE.match(f):
            raise click.BadParameter(f"{f!r} is not a valid feature name", param_hint="--feature")
    ctx.workspace().ledger.add_product(
        int(now_utc().timestamp()), product_id, name or product_id, list(features),
        min_components or 2, _check_components(required),
    )  # fmt: skip
    click.echo(f"Added product {product_id}")


@product.command("set")
@click.argument("product_id")
@_policy_options
@pass_context
def product_set(
    ctx: Context, product_id: str, min_components: int | None, required: tuple[str, ...]
) -> None:
    """Change a product's fingerprint policy for activation requests.

    Options not given keep their current value; --require-component replaces
    the list (machine-id is always required). Applies to requests answered
    from now on.
    """
    ledger = ctx.workspace().ledger
    current = ledger.product(product_id)
    minimum = min_components or int(current["min_components"])
    names = _check_components(required) if required else json.loads(current["required_components"])
    ledger.set_product_policy(int(now_utc().timestamp()), product_id, minimum, names)
    click.echo(f"Product {product_id}: activation requests need {minimum} or more fingerprint "
               f"components including {', '.join(sorted({'machine-id', *names}))}")  # fmt: skip


@product.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def product_list(ctx: Context, as_json: bool) -> None:
    """List products."""
    rows = [{"id": r["id"], "name": r["name"], "features": json.loads(r["features"]),
             "min_components": r["min_components"],
             "required_components": json.loads(r["required_components"])}
            for r in ctx.workspace().ledger.products()]  # fmt: skip
    if as_json:
        emit_json(rows)
        return
    table(
        [[r["id"], r["name"], ",".join(r["features"]) or "-",
          f"{r['min_components']}+ incl. {','.join(r['required_components'])}"] for r in rows],
        ["ID", "NAME", "FEATURES", "FINGERPRINT"],
    )  # fmt: skip


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
    if email is not None:  # stored in the form activations compare (case, NFC, no invisibles)
        from licverify._fields import normalize_user

        try:
            email = normalize_user(email)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--email") from None
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
