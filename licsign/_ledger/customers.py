"""Ledger records of customers."""

from __future__ import annotations

from licsign._errors import AlreadyExistsError, NotFoundError
from licsign._ledger.events import Events
from licsign._ledger.records import CustomerRecord


class Customers(Events):
    """Mixed into ``Ledger``: add and read customers."""

    def add_customer(self, at: int, customer_id: str, name: str, email: str | None) -> None:
        """Add a customer; raise AlreadyExistsError if the id is taken."""
        with self.transaction():
            if self._db.one("SELECT 1 AS x FROM customers WHERE id = ?", (customer_id,)):
                raise AlreadyExistsError(f"customer {customer_id!r} already exists")
            self._db.run(
                "INSERT INTO customers (id, name, email, created_at) VALUES (?,?,?,?)",
                (customer_id, name, email, at),
            )
            self.append_event(at, "customer.added", customer_id, {"name": name, "email": email})

    def customer(self, customer_id: str) -> CustomerRecord:
        """The customer; raise NotFoundError if unknown."""
        row = self._db.one("SELECT * FROM customers WHERE id = ?", (customer_id,))
        if row is None:
            raise NotFoundError(
                f"unknown customer {customer_id!r} (add one with 'licsign customer add')"
            )
        return CustomerRecord.from_row(row)

    def customers(self) -> list[CustomerRecord]:
        """All customers by id."""
        return [
            CustomerRecord.from_row(r) for r in self._db.all("SELECT * FROM customers ORDER BY id")
        ]
