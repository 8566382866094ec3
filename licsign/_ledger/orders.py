"""Ledger records of orders and their license managers.

An order belongs to one customer; licenses issued under it carry its id
(``licenses.order_id``). A manager is an e-mail (normalized as users are) with
an optional name; removing one keeps its row with the time it was removed, and
adding it again starts a new row, so the table is its own history too.
"""

from __future__ import annotations

from licsign._errors import AlreadyExistsError, NotFoundError
from licsign._ledger.events import Events
from licsign._ledger.integrity import AT, CHANGE, MAKE, SUBJECT, Change, Field, Fixed, on, track
from licsign._ledger.records import ManagerRecord, OrderRecord


class Orders(Events):
    """Mixed into ``Ledger``: add and read orders, add and remove their managers."""

    def add_order(self, at: int, order_id: str, customer_id: str, reference: str | None) -> None:
        """Add an order; raise AlreadyExistsError if the id is taken.

        The customer must exist (the caller checks, to name it; the schema refuses it too).
        """
        with self.transaction():
            if self._db.one("SELECT 1 AS x FROM orders WHERE id = ?", (order_id,)):
                raise AlreadyExistsError(f"order {order_id!r} already exists")
            self._db.run(
                "INSERT INTO orders (id, customer_id, reference, created_at) VALUES (?,?,?,?)",
                (order_id, customer_id, reference, at),
            )
            self.append_event(
                at, "order.added", order_id, {"customer": customer_id, "reference": reference}
            )

    def order(self, order_id: str) -> OrderRecord:
        """The order; raise NotFoundError if unknown."""
        row = self._db.one("SELECT * FROM orders WHERE id = ?", (order_id,))
        if row is None:
            raise NotFoundError(f"unknown order {order_id!r} (add one with 'licsign order add')")
        return OrderRecord.from_row(row)

    def orders(self, customer: str | None = None) -> list[OrderRecord]:
        """Every order (of one customer, if given), by id."""
        if customer is None:
            rows = self._db.all("SELECT * FROM orders ORDER BY id")
        else:
            rows = self._db.all(
                "SELECT * FROM orders WHERE customer_id = ? ORDER BY id", (customer,)
            )
        return [OrderRecord.from_row(r) for r in rows]

    def add_manager(self, at: int, order_id: str, email: str, name: str | None) -> None:
        """Make ``email`` a manager of the order; raise AlreadyExistsError if it is one."""
        with self.transaction():
            if self.manager(order_id, email) is not None:
                raise AlreadyExistsError(f"{email!r} already manages order {order_id!r}")
            self._db.run(
                "INSERT INTO order_managers (order_id, email, name, added_at) VALUES (?,?,?,?)",
                (order_id, email, name, at),
            )
            self.append_event(at, "order.manager-added", order_id, {"email": email, "name": name})

    def remove_manager(self, at: int, order_id: str, email: str) -> None:
        """Remove a current manager; raise NotFoundError if ``email`` is not one."""
        with self.transaction():
            current = self.manager(order_id, email)
            if current is None:
                raise NotFoundError(f"{email!r} is not a manager of order {order_id!r}")
            self._db.run(
                "UPDATE order_managers SET removed_at = ?"
                " WHERE order_id = ? AND email = ? AND removed_at IS NULL",
                (at, order_id, email),
            )
            self.append_event(
                at, "order.manager-removed", order_id,
                {"email": email, "added_at": current.added_at},
            )  # fmt: skip

    def manager(self, order_id: str, email: str) -> ManagerRecord | None:
        """The current manager ``email`` of the order, or None."""
        row = self._db.one(
            "SELECT * FROM order_managers WHERE order_id = ? AND email = ? AND removed_at IS NULL",
            (order_id, email),
        )
        return None if row is None else ManagerRecord.from_row(row)

    def managers(self, order_id: str) -> list[ManagerRecord]:
        """The order's current managers, in the order they were added."""
        rows = self._db.all(
            "SELECT * FROM order_managers WHERE order_id = ? AND removed_at IS NULL"
            " ORDER BY added_at, email",
            (order_id,),
        )
        return [ManagerRecord.from_row(r) for r in rows]


# What the order events do to rows, for ``licsign ledger verify`` (licsign/_ledger/integrity.py).
track("orders", key=("id",))
# A manager removed and added again is a new row, named by when it was added.
track("order_managers", key=("order_id", "email", "added_at"))
on("order.added", Change("orders", (SUBJECT,), MAKE, customer_id="customer",
                         reference="reference", created_at=AT))  # fmt: skip
on("order.manager-added", Change("order_managers", (SUBJECT, "email", AT), MAKE, name="name",
                                 removed_at=Fixed(None)))  # fmt: skip
on("order.manager-removed", Change("order_managers", (SUBJECT, "email", "added_at"), CHANGE,
                                   removed_at=AT))  # fmt: skip
# A license issued for an order names it in its event (older events: no order).
on("license.issued", Change("licenses", (SUBJECT, "version"), CHANGE,
                            order_id=Field("order", None)))  # fmt: skip
