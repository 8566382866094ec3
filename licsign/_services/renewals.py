"""New versions of a license: renew, amend, transfer (docs/adr/0019-renewals.md).

Each signs a new license document with the same id and the next version
(format §7.1 ``version``), built by the issuing service (``prepare_license``,
``sign_license``) from the newest version's terms with one thing changed.
In one unit of work the ledger records the new version, marks every older
one ``superseded`` and appends one event (``license.renewed``,
``license.amended``, ``license.transferred``). Seats carry over: an activation
belongs to the license id, and a device that holds a seat asks again with
the new document and is answered as a renewal of its seat (no new seat, no
transfer). An amendment may not lower a limit below the seats held now, so
every seat it keeps still fits. A transfer to another customer is refused
while devices hold seats unless forced, which ends them (recorded, not counted
as device transfers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from licsign import _validation as check
from licsign._errors import InvalidInputError, RefusedError
from licsign._keyfile import PassphraseSource
from licsign._ledger import LicenseRecord, Seat
from licsign._services.activation import holds_seat
from licsign._services.issuing import (
    IssuedLicense,
    IssueRequest,
    prepare_license,
    request_from_terms,
    sign_license,
)
from licsign._workspace import Workspace
from licverify._time import from_timestamp, iso, to_timestamp
from licverify.cliutil import Duration
from licverify.format import LicenseTerms, decode_license_payload, parse_unverified

#: Fields ``amend_license`` may change, as ``IssueRequest`` names them.
AMENDABLE = (
    "max_devices", "max_users", "max_devices_per_user", "max_transfers", "max_version",
    "maintenance_end",
)  # fmt: skip


@dataclass(frozen=True)
class NewVersion:
    """A license's new version: the signed document and what changed in the ledger."""

    #: The new version's document (``document``, ``armored``, ``terms``, ``to_json()``).
    license: IssuedLicense
    #: ``renewed``, ``amended`` or ``transferred``.
    action: str
    #: The version it supersedes.
    previous_version: int
    #: Transfer only: the previous customer, and the activations it ended (``force``).
    previous_customer: str | None = None
    seats_freed: tuple[str, ...] = ()
    #: Transfer only: the earlier versions it revoked, and the license users it removed.
    versions_revoked: tuple[int, ...] = ()
    users_removed: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        """The license id (the same in every version)."""
        return self.license.id

    @property
    def version(self) -> int:
        """The new version."""
        return self.license.terms.version

    def to_json(self) -> dict[str, Any]:
        """What ``licsign renew/amend/transfer --json`` prints: the new terms and the change."""
        out: dict[str, Any] = {
            "action": self.action, "supersedes": self.previous_version,
            "license": self.license.to_json(),
        }  # fmt: skip
        if self.action == "transferred":
            out["from_customer"] = self.previous_customer
            out["seats_freed"] = list(self.seats_freed)
            out["versions_revoked"] = list(self.versions_revoked)
            out["users_removed"] = list(self.users_removed)
        return out


def _terms(record: LicenseRecord) -> LicenseTerms:
    # The ledger's own signed document, written by sign_license: read without re-verifying.
    return decode_license_payload(parse_unverified(record.document).payload)


def _current(ws: Workspace, license_id: str) -> tuple[LicenseRecord, LicenseTerms]:
    """The newest version, if a new one may follow it (RefusedError if revoked or voided)."""
    record = ws.ledger.license(license_id)
    if record.status != "active":
        raise RefusedError(f"license {record.id} version {record.version} is {record.status}")
    return record, _terms(record)


def _new_version(
    ws: Workspace,
    record: LicenseRecord,
    request: IssueRequest,
    passphrase: PassphraseSource,
    at: int,
    kind: str,
    data: Mapping[str, Any] | None = None,
    before: Callable[[], dict[str, Any]] | None = None,
    after: Callable[[], dict[str, Any]] | None = None,
) -> tuple[IssuedLicense, dict[str, Any]]:
    """Prepare, sign and record the next version of ``record`` (one unit of work).

    ``before`` runs inside the unit of work, under the write lock, before the
    row is added: it re-checks what may have changed meanwhile and may add to
    the event's data. ``after`` runs in the same unit of work once the new
    version is recorded; what it returns is added to the result's extras.
    """
    version = record.version + 1
    prepared = prepare_license(ws, request, record.id, at, version=version)
    issued, new_record = sign_license(
        prepared, ws.issuing_signer(request.product, at, passphrase), at
    )
    extra: dict[str, Any] = {}
    with ws.ledger.transaction():
        newest = ws.ledger.license(record.id)
        if newest.version != record.version or newest.status != "active":
            raise RefusedError(
                f"license {record.id} changed meanwhile (now version {newest.version},"
                f" {newest.status}); try again"
            )
        if before is not None:
            extra = before()
        event = {"supersedes": record.version, **(data or {}), **extra}
        ws.ledger.add_license_version(at, new_record, kind, event)
        if after is not None:
            extra = {**extra, **after()}
    return issued, extra


def renew_license(
    ws: Workspace,
    license_id: str,
    passphrase: PassphraseSource,
    *,
    now: datetime,
    expires: datetime | None = None,
    extend: Duration | None = None,
) -> NewVersion:
    """Issue the next version of a license with a later expiry (``licsign renew``).

    Everything else stays as it was, the start of validity included, so the
    license is valid without a gap; devices keep their seats (ADR 0019).

    Args:
        ws: the workspace.
        license_id: the license.
        passphrase: yields the issuing key's passphrase when the key is opened.
        now: the time of issue.
        expires: the new expiry; or
        extend: how much to add to the current expiry (``Duration``, calendar months
            counted from it); exactly one of the two.

    Returns:
        The new version.

    Raises:
        NotFoundError: unknown license, or no usable issuing key.
        RefusedError: the license never expires, is revoked, or the new expiry is not
            later than the current one.
        InvalidInputError: neither or both of ``expires`` and ``extend``.
    """
    if (expires is None) == (extend is None):
        raise InvalidInputError("give either a new expiry or a period to extend it by")
    at = to_timestamp(now)
    record, terms = _current(ws, license_id)
    if terms.expires is None:
        raise RefusedError(
            f"license {record.id} is {terms.type} and never expires: nothing to renew"
        )
    if extend is not None:
        try:
            new_expiry = terms.expires + int(extend.seconds_from(from_timestamp(terms.expires)))
        except ValueError as exc:  # past the year 9999
            raise InvalidInputError(str(exc)) from None
    else:
        assert expires is not None
        new_expiry = to_timestamp(expires, "expires")
    if new_expiry <= terms.expires:
        raise RefusedError(
            f"license {record.id} already runs until {iso(terms.expires)}; a renewal must end"
            f" later (asked for {iso(new_expiry)})"
        )
    request = request_from_terms(terms, record.order_id, expires=from_timestamp(new_expiry))
    issued, _ = _new_version(
        ws, record, request, passphrase, at, "license.renewed",
        {"expires_from": terms.expires, "expires": new_expiry},
    )  # fmt: skip
    return NewVersion(issued, "renewed", record.version)


def amend_license(
    ws: Workspace,
    license_id: str,
    passphrase: PassphraseSource,
    *,
    now: datetime,
    features: Mapping[str, Any] | None = None,
    remove_features: tuple[str, ...] | list[str] = (),
    **changes: Any,
) -> NewVersion:
    """Issue the next version of a license with other features or limits (``licsign amend``).

    Args:
        ws: the workspace.
        license_id: the license.
        passphrase: yields the issuing key's passphrase when the key is opened.
        now: the time of issue.
        features: features to add or change (name -> value, None for on/off).
        remove_features: features to take away.
        changes: new values for ``AMENDABLE`` fields (``max_devices=5``, ...).

    Returns:
        The new version.

    Raises:
        NotFoundError: unknown license, or no usable issuing key.
        RefusedError: the license is revoked, or a new limit is below the seats held
            now (naming who holds them).
        InvalidInputError: nothing would change, an unknown field or feature, or
            terms that contradict each other.
    """
    unknown = sorted(set(changes) - set(AMENDABLE))
    if unknown:
        raise TypeError(f"amend_license cannot change {', '.join(unknown)}")
    at = to_timestamp(now)
    record, terms = _current(ws, license_id)
    new_features = dict(terms.features)
    for name in remove_features:
        if name not in new_features:
            raise InvalidInputError(f"license {record.id} has no feature {name!r} to remove")
        del new_features[name]
    new_features.update(features or {})
    request = request_from_terms(terms, record.order_id, features=new_features, **changes)
    prepared = prepare_license(ws, request, record.id, at, version=record.version + 1)
    changed = _differences(terms, prepared.terms)
    if not changed:
        raise InvalidInputError(f"nothing to amend: license {record.id} already has these terms")
    _check_seats_fit(ws, prepared.terms, at)

    def still_fits() -> dict[str, Any]:  # again under the write lock
        _check_seats_fit(ws, prepared.terms, at)
        return {}

    issued, _ = _new_version(
        ws, record, request, passphrase, at, "license.amended", {"changed": changed}, still_fits
    )
    return NewVersion(issued, "amended", record.version)


def transfer_license(
    ws: Workspace,
    license_id: str,
    passphrase: PassphraseSource,
    *,
    to: str,
    now: datetime,
    force: bool = False,
) -> NewVersion:
    """Move a license to another customer: the next version names the new holder.

    In the same unit of work every earlier version is superseded and revoked
    (one revocation per version not revoked yet), and the old holder's
    license users and shares are removed, their unused codes ended. Machines
    learn of the revocation from the next exported revocation list that
    reaches them; until then a machine holding an old version keeps it
    (docs/security.md). The license leaves its order (an order is one
    customer's).

    Args:
        ws: the workspace.
        license_id: the license.
        passphrase: yields the issuing key's passphrase when the key is opened.
        to: the new customer.
        now: the time of issue.
        force: end the activations of devices holding seats (recorded in the
            history; not counted against the license's device transfers).

    Returns:
        The new version, with the activations it ended.

    Raises:
        NotFoundError: unknown license or customer, or no usable issuing key.
        RefusedError: the license is revoked, already the customer's, or devices hold
            seats (without ``force``; the message names them).
    """
    customer = check.customer_id(to)
    at = to_timestamp(now)
    record, terms = _current(ws, license_id)
    if customer == record.customer_id:
        raise RefusedError(f"license {record.id} already belongs to customer {customer!r}")
    ws.ledger.customer(customer)
    _check_transferable(ws, record.id, at, force)
    request = request_from_terms(terms, None, customer=customer)

    def end_seats() -> dict[str, Any]:
        seats = _check_transferable(ws, record.id, at, force)
        for seat in seats:
            ws.ledger.end_activation(seat.activation.id, at, "reset", False)
        return {"activations": [s.activation.id for s in seats]}

    issued, extra = _new_version(
        ws, record, request, passphrase, at, "license.transferred",
        {"from": record.customer_id, "forced": force}, end_seats,
        lambda: _leave_old_holder(ws, record.id, record.version, at),
    )  # fmt: skip
    return NewVersion(
        issued, "transferred", record.version, record.customer_id, tuple(extra["activations"]),
        tuple(extra["revoked_versions"]), tuple(extra["users_removed"]),
    )  # fmt: skip


def _leave_old_holder(ws: Workspace, license_id: str, last: int, at: int) -> dict[str, Any]:
    """Revoke versions up to ``last`` not revoked yet; remove the license's users and shares."""
    ledger = ws.ledger
    done = {r.version for r in ledger.revocation_of("license", license_id)}
    versions = [v for v, _, _ in ledger.license_versions(license_id) if v <= last and v not in done]
    for version in versions:
        ledger.mark_license_revoked(license_id, [version])
        ledger.add_revocation(at, "license", license_id, version, "transferred",
                              {"versions": [version]})  # fmt: skip
    users = ledger.license_users(license_id)
    for user in users:
        ledger.remove_license_user(at, user, {"activations": [], "reason": "transferred"})
    for share in ledger.license_shares(license_id):
        ledger.remove_share(at, share, {"reason": "transferred"})
    return {"revoked_versions": versions, "users_removed": [u.email for u in users]}


def _check_transferable(ws: Workspace, license_id: str, at: int, force: bool) -> list[Seat]:
    """The open activations a transfer ends; RefusedError if any holds a seat and not ``force``."""
    seats = ws.ledger.open_activations(license_id)
    held = [s for s in seats if holds_seat(s.activation, at)]
    if held and not force:
        names = ", ".join(f"{s.label} ({s.activation.device_id[:8]})" for s in held[:10])
        raise RefusedError(
            f"license {license_id} is activated on {len(held)} device(s): {names}; deactivate"
            " them first, or transfer with --force to free their seats"
        )
    return seats


def _check_seats_fit(ws: Workspace, terms: LicenseTerms, at: int) -> None:
    """Refuse limits below the seats held now: every seat must carry over (ADR 0019)."""
    held = [s for s in ws.ledger.open_activations(terms.id) if holds_seat(s.activation, at)]
    limits = terms.limits
    if limits.max_devices is not None and len(held) > limits.max_devices:
        raise RefusedError(
            f"license {terms.id} is activated on {len(held)} devices, more than the"
            f" {limits.max_devices} asked for; deactivate or reset some first"
        )
    users: dict[str, int] = {}
    for seat in held:
        if seat.activation.user is not None:
            users[seat.activation.user] = users.get(seat.activation.user, 0) + 1
    if limits.max_users is not None and len(users) > limits.max_users:
        raise RefusedError(
            f"license {terms.id} has {len(users)} users holding seats"
            f" ({', '.join(sorted(users))}), more than the {limits.max_users} asked for"
        )
    cap = limits.max_devices_per_user
    over = sorted(u for u, n in users.items() if cap is not None and n > cap)
    if over:
        raise RefusedError(
            f"on license {terms.id}, {', '.join(over)} hold(s) more than the {cap} devices"
            " per user asked for; deactivate or reset some first"
        )
    if terms.allowed_users:
        outside = sorted(u for u in users if u not in terms.allowed_users)
        if outside:
            raise RefusedError(
                f"license {terms.id}: {', '.join(outside)} hold(s) seats but would no longer"
                " be allowed; deactivate their devices first"
            )


def _differences(old: LicenseTerms, new: LicenseTerms) -> list[str]:
    """The terms an amendment changes, by name (``features``, ``limits``, ...)."""
    names = ("features", "limits", "max_version", "maintenance_end", "activation_required")
    return [name for name in names if getattr(old, name) != getattr(new, name)]
