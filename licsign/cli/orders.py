"""``licsign order ...`` and ``licsign manager ...``: orders and their license managers."""

from __future__ import annotations

import click

from licsign import (
    ManagerInfo,
    add_manager,
    add_order,
    managers,
    order_details,
    orders,
    remove_manager,
)
from licsign.cli._context import Context, emit_json, field_errors, now_utc, pass_context, say, table
from licverify._time import iso


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(order)
    cli.add_command(manager)


@click.group()
def order() -> None:
    """Orders: a customer's purchases, under which licenses are issued (issue --order)."""


@order.command("add")
@click.argument("order_id", metavar="ORDER")
@click.option("--customer", required=True, help="The customer who placed the order.")
@click.option("--reference", help="Free text, e.g. the shop's or the invoice's number.")
@click.option("--json", "as_json", is_flag=True, help="Print the order as JSON.")
@pass_context
def order_add(
    ctx: Context, order_id: str, customer: str, reference: str | None, as_json: bool
) -> None:
    """Add an order for a customer."""
    with field_errors(order_id="ORDER", reference="--reference"):
        added = add_order(
            ctx.workspace(), order_id, customer=customer, now=now_utc(), reference=reference
        )
    if as_json:
        emit_json(added.to_json())
        return
    say(f"Added order {added.id} for customer {added.customer}")


@order.command("list")
@click.option("--customer", help="Only this customer's orders.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def order_list(ctx: Context, customer: str | None, as_json: bool) -> None:
    """List orders."""
    rows = orders(ctx.workspace(), customer=customer)
    if as_json:
        emit_json([r.to_json() for r in rows])
        return
    if not rows:
        click.echo("No orders. Add one with 'licsign order add'.", err=True)
        return
    table(
        [[r.id, r.customer, iso(r.created_at) or "", r.reference or "-"] for r in rows],
        ["ID", "CUSTOMER", "CREATED", "REFERENCE"],
    )


@order.command("show")
@click.argument("order_id", metavar="ORDER")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def order_show(ctx: Context, order_id: str, as_json: bool) -> None:
    """Show an order: its customer, license managers and licenses."""
    details = order_details(ctx.workspace(), order_id, now=now_utc())
    if as_json:
        emit_json(details.to_json())
        return
    info, customer = details.order, details.customer
    say(f"Order:      {info.id}")
    say(f"Customer:   {customer.id} ({customer.name})")
    say(f"Reference:  {info.reference if info.reference is not None else 'none'}")
    say(f"Created:    {iso(info.created_at)}")
    say(f"Managers:   {len(details.managers) or 'none'}")
    for m in details.managers:
        say(f"  {_manager_text(m)}")
    say(f"Licenses:   {len(details.licenses) or 'none'}")
    table(
        [[s.id, s.product, s.type, s.status, iso(s.expires) or "never"] for s in details.licenses],
        ["ID", "PRODUCT", "TYPE", "STATUS", "EXPIRES"],
    )


def _manager_text(m: ManagerInfo) -> str:
    """``email (name)`` or the e-mail alone."""
    return m.email if m.name is None else f"{m.email} ({m.name})"


@click.group()
def manager() -> None:
    """License managers: people at the customer who look after an order's licenses."""


@manager.command("add")
@click.argument("order_id", metavar="ORDER")
@click.argument("email")
@click.option("--name", help="The manager's name.")
@click.option("--json", "as_json", is_flag=True, help="Print the manager as JSON.")
@pass_context
def manager_add(ctx: Context, order_id: str, email: str, name: str | None, as_json: bool) -> None:
    """Make EMAIL a license manager of ORDER (an order may have several)."""
    with field_errors(email="EMAIL", name="--name"):
        added = add_manager(ctx.workspace(), order_id, email, now=now_utc(), name=name)
    if as_json:
        emit_json(added.to_json())
        return
    say(f"Added {_manager_text(added)} as a manager of order {added.order}")


@manager.command("list")
@click.argument("order_id", metavar="ORDER")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_context
def manager_list(ctx: Context, order_id: str, as_json: bool) -> None:
    """List the license managers of ORDER."""
    rows = managers(ctx.workspace(), order_id)
    if as_json:
        emit_json([m.to_json() for m in rows])
        return
    if not rows:
        say(f"Order {order_id} has no managers. Add one with 'licsign manager add'.", err=True)
        return
    table(
        [[m.email, m.name or "-", iso(m.added_at) or ""] for m in rows], ["EMAIL", "NAME", "ADDED"]
    )


@manager.command("remove")
@click.argument("order_id", metavar="ORDER")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print the removed manager as JSON.")
@pass_context
def manager_remove(ctx: Context, order_id: str, email: str, as_json: bool) -> None:
    """Remove EMAIL from the license managers of ORDER."""
    with field_errors(email="EMAIL"):
        removed = remove_manager(ctx.workspace(), order_id, email, now=now_utc())
    if as_json:
        emit_json(removed.to_json())
        return
    say(f"Removed {removed.email} from the managers of order {removed.order}")
