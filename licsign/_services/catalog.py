"""The catalog: products (with their fingerprint policy) and customers.

What ``licsign product ...`` and ``licsign customer ...`` do. Every id, name,
e-mail, feature and component name is checked by ``licsign._validation`` (on
the verifier's rules) before the ledger sees it; each change is one unit of
work and returns what the ledger then holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from licsign import _validation as check
from licsign._ledger import CustomerRecord, ProductRecord
from licsign._workspace import Workspace
from licverify._time import to_timestamp


@dataclass(frozen=True)
class ProductInfo:
    """A product: its features and the fingerprint policy its activation requests must meet."""

    id: str
    name: str
    features: tuple[str, ...]
    #: Fewest fingerprint components an activation request may carry.
    min_components: int
    #: Components every request must carry (machine-id always among them), sorted.
    required_components: tuple[str, ...]

    @classmethod
    def from_record(cls, record: ProductRecord) -> ProductInfo:
        """The product as the ledger holds it."""
        return cls(
            record.id, record.name, tuple(record.features), record.min_components,
            tuple(record.required_components),
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """The product as ``licsign product list --json`` prints it."""
        return {
            "id": self.id, "name": self.name, "features": list(self.features),
            "min_components": self.min_components,
            "required_components": list(self.required_components),
        }  # fmt: skip


@dataclass(frozen=True)
class CustomerInfo:
    """A customer: id, display name and contact e-mail (normalized), if any."""

    id: str
    name: str
    email: str | None

    @classmethod
    def from_record(cls, record: CustomerRecord) -> CustomerInfo:
        """The customer as the ledger holds it."""
        return cls(record.id, record.name, record.email)

    def to_json(self) -> dict[str, Any]:
        """The customer as ``licsign customer list --json`` prints it."""
        return {"id": self.id, "name": self.name, "email": self.email}


def add_product(
    ws: Workspace,
    product_id: str,
    *,
    now: datetime,
    name: str | None = None,
    features: Iterable[str] = (),
    min_components: int | None = None,
    required_components: Iterable[str] = (),
) -> ProductInfo:
    """Add a product to the catalog.

    Args:
        ws: the workspace.
        product_id: what applications pass as their product (``acme-cad``).
        now: when it is added (recorded in the ledger's history).
        name: display name (default: the id).
        features: the features licenses for it may grant (none: any).
        min_components: fewest fingerprint components an activation request
            may carry (default and floor 2).
        required_components: components every request must carry besides
            machine-id, which is always required.

    Returns:
        The product as recorded.

    Raises:
        InvalidInputError: a bad id, name, feature or component name, or
            ``min_components`` outside 2 to 64 (an ``InvalidFieldError``).
        AlreadyExistsError: the id is taken.
    """
    check.product_id(product_id)
    display = product_id if name is None else check.display_name(name)
    names = [check.feature_name(f) for f in features]
    minimum = (
        check.MIN_COMPONENTS if min_components is None else check.min_components(min_components)
    )
    required = check.required_components(required_components)
    with ws.ledger.transaction():
        ws.ledger.add_product(to_timestamp(now), product_id, display, names, minimum, required)
        return ProductInfo.from_record(ws.ledger.product(product_id))


def set_product_policy(
    ws: Workspace,
    product_id: str,
    *,
    now: datetime,
    min_components: int | None = None,
    required_components: Iterable[str] | None = None,
) -> ProductInfo:
    """Change a product's fingerprint policy; what is not given keeps its current value.

    Applies to activation requests answered from then on.

    Args:
        ws: the workspace.
        product_id: the product.
        now: when the policy changes (recorded in the ledger's history).
        min_components: the new minimum (2 to 64), or None to keep it.
        required_components: the new list (replacing the old; machine-id is
            always required), or None (or empty) to keep it.

    Returns:
        The product with its new policy.

    Raises:
        NotFoundError: unknown product.
        InvalidInputError: a bad component name or minimum (``InvalidFieldError``).
    """
    minimum = None if min_components is None else check.min_components(min_components)
    names = None if not required_components else check.required_components(required_components)
    with ws.ledger.transaction():
        current = ws.ledger.product(product_id)
        ws.ledger.set_product_policy(
            to_timestamp(now), product_id,
            current.min_components if minimum is None else minimum,
            list(current.required_components) if names is None else names,
        )  # fmt: skip
        return ProductInfo.from_record(ws.ledger.product(product_id))


def products(ws: Workspace) -> list[ProductInfo]:
    """Every product, by id."""
    return [ProductInfo.from_record(r) for r in ws.ledger.products()]


def add_customer(
    ws: Workspace,
    customer_id: str,
    *,
    now: datetime,
    name: str | None = None,
    email: str | None = None,
) -> CustomerInfo:
    """Add a customer.

    Args:
        ws: the workspace.
        customer_id: the id licenses name as their customer (``globex``).
        now: when it is added (recorded in the ledger's history).
        name: display name (default: the id).
        email: contact e-mail, stored in the form activations compare
            (trimmed, NFC, case-folded).

    Returns:
        The customer as recorded.

    Raises:
        InvalidInputError: a bad id, name or e-mail (``InvalidFieldError``).
        AlreadyExistsError: the id is taken.
    """
    check.customer_id(customer_id)
    display = customer_id if name is None else check.display_name(name)
    address = None if email is None else check.email(email)
    with ws.ledger.transaction():
        ws.ledger.add_customer(to_timestamp(now), customer_id, display, address)
        return CustomerInfo.from_record(ws.ledger.customer(customer_id))


def customers(ws: Workspace) -> list[CustomerInfo]:
    """Every customer, by id."""
    return [CustomerInfo.from_record(r) for r in ws.ledger.customers()]
