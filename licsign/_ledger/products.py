"""Ledger records of products and their fingerprint policy."""

from __future__ import annotations

import json

from licsign._errors import AlreadyExistsError, NotFoundError
from licsign._ledger.events import Events
from licsign._ledger.records import ProductRecord


class Products(Events):
    """Mixed into ``Ledger``: add, change and read products."""

    def add_product(
        self,
        at: int,
        product_id: str,
        name: str,
        features: list[str],
        min_components: int = 2,
        required_components: list[str] | None = None,
    ) -> None:
        """Add a product; raise AlreadyExistsError if the id is taken.

        ``min_components`` and ``required_components`` are the fingerprint
        policy activation requests must meet (machine-id is always required).
        """
        with self.transaction():
            required = sorted({"machine-id", *(required_components or [])})
            if self._db.one("SELECT 1 AS x FROM products WHERE id = ?", (product_id,)):
                raise AlreadyExistsError(f"product {product_id!r} already exists")
            self._db.run(
                "INSERT INTO products (id, name, features, created_at, min_components,"
                " required_components) VALUES (?,?,?,?,?,?)",
                (product_id, name, json.dumps(features), at, min_components, json.dumps(required)),
            )
            self.append_event(
                at, "product.added", product_id,
                {"name": name, "features": features, "min_components": min_components,
                 "required_components": required},
            )  # fmt: skip

    def set_product_policy(
        self, at: int, product_id: str, min_components: int, required_components: list[str]
    ) -> None:
        """Replace a product's fingerprint policy."""
        with self.transaction():
            required = sorted({"machine-id", *required_components})
            self.product(product_id)
            self._db.run(
                "UPDATE products SET min_components = ?, required_components = ? WHERE id = ?",
                (min_components, json.dumps(required), product_id),
            )
            self.append_event(
                at, "product.policy", product_id,
                {"min_components": min_components, "required_components": required},
            )  # fmt: skip

    def product(self, product_id: str) -> ProductRecord:
        """The product; raise NotFoundError if unknown."""
        row = self._db.one("SELECT * FROM products WHERE id = ?", (product_id,))
        if row is None:
            known = [r["id"] for r in self._db.all("SELECT id FROM products ORDER BY id LIMIT 10")]
            hint = (
                f" (known: {', '.join(known)})"
                if known
                else " (add one with 'licsign product add')"
            )
            raise NotFoundError(f"unknown product {product_id!r}{hint}")
        return ProductRecord.from_row(row)

    def products(self) -> list[ProductRecord]:
        """All products by id."""
        return [
            ProductRecord.from_row(r) for r in self._db.all("SELECT * FROM products ORDER BY id")
        ]
