"""Orders and their license managers: what ``licsign order ...`` and ``licsign manager ...`` do.

An order is a customer's purchase: licenses are issued under it (``licsign
issue --order``, ``IssueRequest(order=...)``), and its license managers (people
at the customer who look after those licenses, by e-mail) appear on every
license of the order. Ids are checked by ``licsign._validation``; e-mails are
stored in the one form users are (``normalize_user``); a reference and a
manager's name are free text, stored as given and escaped wherever shown. Each
change is one unit of work with its event in the ledger's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from licsign import _validation as check
from licsign._errors import NotFoundError, RefusedError
from licsign._ledger import ManagerRecord, OrderRecord
from licsign._services.catalog import CustomerInfo
from licsign._workspace import Workspace
from licverify._time import iso, to_timestamp

if TYPE_CHECKING:
    from licsign._services.reports import LicenseSummary


@dataclass(frozen=True)
class OrderInfo:
    """An order: its id, its customer, the vendor's reference for it and when it was added."""

    id: str
    customer: str
    #: Free text (an invoice or shop order number), as given; None if none was.
    reference: str | None
    created_at: int

    @classmethod
    def from_record(cls, record: OrderRecord) -> OrderInfo:
        """The order as the ledger holds it."""
        return cls(record.id, record.customer_id, record.reference, record.created_at)

    def to_json(self) -> dict[str, Any]:
        """The order as ``licsign order list --json`` prints it (times in ISO 8601)."""
        return {
            "id": self.id, "customer": self.customer, "reference": self.reference,
            "created_at": iso(self.created_at),
        }  # fmt: skip


@dataclass(frozen=True)
class ManagerInfo:
    """A license manager of an order: an e-mail (normalized), a name if given, since when."""

    order: str
    email: str
    name: str | None
    added_at: int
    #: When the manager was removed (``remove_manager``); None while they manage the order.
    removed_at: int | None = None

    @classmethod
    def from_record(cls, record: ManagerRecord) -> ManagerInfo:
        """The manager as the ledger holds them."""
        return cls(record.order_id, record.email, record.name, record.added_at, record.removed_at)

    def to_json(self) -> dict[str, Any]:
        """The manager as ``licsign manager list --json`` prints them (times in ISO 8601)."""
        return {
            "order": self.order, "email": self.email, "name": self.name,
            "added_at": iso(self.added_at), "removed_at": iso(self.removed_at),
        }  # fmt: skip


@dataclass(frozen=True)
class OrderDetails:
    """What ``licsign order show`` prints: the order, its customer, managers and licenses."""

    order: OrderInfo
    customer: CustomerInfo
    #: Its current managers, in the order they were added.
    managers: tuple[ManagerInfo, ...]
    #: The newest version of each license issued under it, newest first, with its status.
    licenses: tuple[LicenseSummary, ...]

    def to_json(self) -> dict[str, Any]:
        """The details as ``licsign order show --json`` prints them."""
        return {
            "order": self.order.to_json(), "customer": self.customer.to_json(),
            "managers": [m.to_json() for m in self.managers],
            "licenses": [s.to_json() for s in self.licenses],
        }  # fmt: skip


def add_order(
    ws: Workspace,
    order_id: str,
    *,
    customer: str,
    now: datetime,
    reference: str | None = None,
) -> OrderInfo:
    """Add an order for a customer.

    Args:
        ws: the workspace.
        order_id: the order's id (``2026-0042``), as product and customer ids.
        customer: the customer who placed it.
        now: when it is added (recorded in the ledger's history).
        reference: free text, e.g. the shop's or the invoice's number.

    Returns:
        The order as recorded.

    Raises:
        InvalidInputError: a bad id or reference (``InvalidFieldError``: ``order_id``,
            ``reference``).
        NotFoundError: unknown customer.
        AlreadyExistsError: the id is taken.
    """
    check.order_id(order_id)
    text = None if reference is None else check.free_text(reference, "reference")
    with ws.ledger.transaction():
        ws.ledger.customer(customer)
        ws.ledger.add_order(to_timestamp(now), order_id, customer, text)
        return OrderInfo.from_record(ws.ledger.order(order_id))


def orders(ws: Workspace, *, customer: str | None = None) -> list[OrderInfo]:
    """Every order (of one customer, if given), by id."""
    return [OrderInfo.from_record(r) for r in ws.ledger.orders(customer)]


def order_details(ws: Workspace, order_id: str, *, now: datetime) -> OrderDetails:
    """An order with its customer, its current managers and its licenses at ``now``.

    Raises:
        NotFoundError: unknown order.
    """
    from licsign._services.reports import licenses

    record = ws.ledger.order(order_id)
    return OrderDetails(
        OrderInfo.from_record(record),
        CustomerInfo.from_record(ws.ledger.customer(record.customer_id)),
        tuple(ManagerInfo.from_record(m) for m in ws.ledger.managers(order_id)),
        tuple(licenses(ws, now=now, order=order_id)),
    )


def check_order(ws: Workspace, order_id: str, customer: str) -> OrderInfo:
    """The order a license for ``customer`` is to be issued under, if it may be.

    Raises:
        NotFoundError: unknown order.
        RefusedError: the order belongs to another customer.
    """
    order = OrderInfo.from_record(ws.ledger.order(order_id))
    if order.customer != customer:
        raise RefusedError(
            f"order {order_id!r} belongs to customer {order.customer!r}, not {customer!r}"
        )
    return order


def add_manager(
    ws: Workspace, order_id: str, email: str, *, now: datetime, name: str | None = None
) -> ManagerInfo:
    """Make someone a license manager of an order (an order may have several).

    Args:
        ws: the workspace.
        order_id: the order.
        email: the manager's e-mail, stored normalized (trimmed, NFC, case-folded).
        now: when they are added (recorded in the ledger's history).
        name: their name, free text.

    Returns:
        The manager as recorded.

    Raises:
        InvalidInputError: a bad e-mail or name (``InvalidFieldError``: ``email``, ``name``).
        NotFoundError: unknown order.
        AlreadyExistsError: they already manage it.
    """
    address = check.email(email)
    text = None if name is None else check.free_text(name, "name")
    at = to_timestamp(now)
    with ws.ledger.transaction():
        ws.ledger.order(order_id)
        ws.ledger.add_manager(at, order_id, address, text)
    return ManagerInfo(order_id, address, text, at)


def managers(ws: Workspace, order_id: str) -> list[ManagerInfo]:
    """The order's current managers, in the order they were added.

    Raises:
        NotFoundError: unknown order.
    """
    ws.ledger.order(order_id)
    return [ManagerInfo.from_record(m) for m in ws.ledger.managers(order_id)]


def remove_manager(ws: Workspace, order_id: str, email: str, *, now: datetime) -> ManagerInfo:
    """Remove a license manager from an order (the ledger keeps when they were one).

    Args:
        ws: the workspace.
        order_id: the order.
        email: the manager's e-mail (compared normalized).
        now: when they are removed (recorded in the ledger's history).

    Returns:
        The manager as they were, with ``removed_at`` set.

    Raises:
        InvalidInputError: a bad e-mail (``InvalidFieldError``: ``email``).
        NotFoundError: unknown order, or ``email`` does not manage it.
    """
    address = check.email(email)
    at = to_timestamp(now)
    with ws.ledger.transaction():
        ws.ledger.order(order_id)
        current = ws.ledger.manager(order_id, address)
        if current is None:
            raise NotFoundError(f"{address!r} is not a manager of order {order_id!r}")
        ws.ledger.remove_manager(at, order_id, address)
    return ManagerInfo(order_id, address, current.name, current.added_at, at)
