"""``licsign product ...`` and ``licsign customer ...``."""

from __future__ import annotations

from typing import Any

import click

from licsign import (
    MAX_COMPONENTS,
    MIN_COMPONENTS,
    add_customer,
    add_product,
    customers,
    products,
    set_product_policy,
)
from licsign.cli._context import Context, emit_json, field_errors, now_utc, pass_context, say, table


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(product)
    cli.add_command(customer)


@click.group()
def product() -> None:
    """Products you license."""


def _policy_options(f: Any) -> Any:
    f = click.option(
        "--require-component", "required", multiple=True, metavar="NAME",
        help="A fingerprint component every activation request must carry, besides "
        "machine-id (repeatable; e.g. disk, mac, cpu, hostname).",
    )(f)  # fmt: skip
    return click.option(
        "--min-components", type=click.IntRange(MIN_COMPONENTS, MAX_COMPONENTS), metavar="N",
        help="Fewest fingerprint components an activation request may carry (default 2).",
    )(f)  # fmt: skip


_PRODUCT_FIELDS = {
    "product_id": "PRODUCT_ID", "name": "--name", "feature": "--feature",
    "component": "--require-component", "min_components": "--min-components",
}  # fmt: skip


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
    with field_errors(**_PRODUCT_FIELDS):
        added = add_product(
            ctx.workspace(), product_id, now=now_utc(), name=name, features=features,
            min_components=min_components, required_components=required,
        )  # fmt: skip
    say(f"Added product {added.id}")


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
    with field_errors(**_PRODUCT_FIELDS):
        changed = set_product_policy(
            ctx.workspace(), product_id, now=now_utc(), min_components=min_components,
            required_components=required,
        )  # fmt: skip
    say(f"Product {changed.id}: activation requests need {changed.min_components} or more "
        f"fingerprint components including {', '.join(changed.required_components)}")  # fmt: skip


@product.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def product_list(ctx: Context, as_json: bool) -> None:
    """List products."""
    rows = products(ctx.workspace())
    if as_json:
        emit_json([r.to_json() for r in rows])
        return
    table(
        [[r.id, r.name, ",".join(r.features) or "-",
          f"{r.min_components}+ incl. {','.join(r.required_components)}"] for r in rows],
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
    with field_errors(customer_id="CUSTOMER_ID", name="--name", email="--email"):
        added = add_customer(ctx.workspace(), customer_id, now=now_utc(), name=name, email=email)
    say(f"Added customer {added.id}")


@customer.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def customer_list(ctx: Context, as_json: bool) -> None:
    """List customers."""
    rows = customers(ctx.workspace())
    if as_json:
        emit_json([r.to_json() for r in rows])
        return
    table([[r.id, r.name, r.email or "-"] for r in rows], ["ID", "NAME", "EMAIL"])
