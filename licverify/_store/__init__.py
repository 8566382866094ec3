"""The local store: one directory per application (docs/format.md §12).

It holds the device key, the installed license, the installed activation
response, the nonces of requests still waiting for an answer, and the last
deactivation receipt. Every document is fully verified before anything is
written; writes are atomic (temp file, fsync, rename), files are 0600, and
a file lock serializes the application's processes. Only regular files are
read, never through a symbolic link and never more than one document; the
directory must not be writable by others (format §12.1). A deactivation
commits when its receipt is written (``activation.receipt_for``).

``LocalStore`` is the facade: each public method takes the lock if it
writes, and hands the work to one module per part of the state:

- ``files``: the directory, its file names, reads, writes and the lock;
- ``device``: the device key;
- ``licenses``: the installed license;
- ``pending``: requests waiting for an answer;
- ``activation``: install, check, deactivate, and the receipt;
- ``revocations``: the installed revocation list (highest number seen).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from licverify._activation import MAX_LEASE, MIN_LEASE
from licverify._armor import armor
from licverify._bundle import split_main_and_lists
from licverify._errors import (
    LicenseError,
    LimitReachedError,
    NotActivatedError,
    StoreError,
    WrongMachineError,
)
from licverify._keys import TrustedRoots
from licverify._kinds import ACTIVATION_REQUEST, DEACTIVATION_RECEIPT, USAGE_REPORT
from licverify._revocation import RevocationList
from licverify._store import activation, device, licenses, pending, revocations, state
from licverify._store.files import STATE_KEY, StoreFiles
from licverify._store.pending import MAX_PENDING as MAX_PENDING
from licverify._time import from_timestamp, to_timestamp

if TYPE_CHECKING:
    from licverify._license import LicenseTerms
    from licverify._usage import ClockReset, CounterRefill
from licverify._verify import (
    License,
    Verifier,
    _as_bytes,
    open_response,
    verify_license_for_import,
)


class LocalStore(StoreFiles):
    """An application's local licensing state in the directory ``path``.

    The directory is created (0700) on first write; an existing one that
    group or others can write, or that is a symbolic link, is refused
    (``StoreError``). Methods that take ``now`` never read the clock;
    ``fingerprint`` is this machine's (``machine_fingerprint(product)``).

    The store keeps a "not earlier than" time (format §12.4): the latest
    time it was given and the issue time of every document imported. A
    ``now`` more than ``clock_tolerance`` before it is refused
    (``ClockRolledBackError``), and every expiry, grace, lease and refresh
    date is judged at the later of ``now`` and that time.

    Args:
        path: the state directory.
        clock_tolerance: how far the clock may go back unnoticed (default
            one hour, so a daylight-saving change never trips it).
    """

    def __init__(
        self, path: str | os.PathLike[str], *, clock_tolerance: timedelta = timedelta(hours=1)
    ) -> None:
        super().__init__(path)  # type: ignore[arg-type]
        if not isinstance(clock_tolerance, timedelta) or clock_tolerance < timedelta(0):
            raise ValueError("clock_tolerance must be a timedelta of zero or more")
        self.clock_tolerance = int(clock_tolerance.total_seconds())

    @contextmanager
    def _locked(
        self, create: bool = False, random_bytes: Callable[[int], bytes] = os.urandom
    ) -> Iterator[None]:
        with self._lock_directory(create):
            activation.finish_deactivation(self, random_bytes)
            yield

    def device_public_key(self, random_bytes: Callable[[int], bytes] = os.urandom) -> bytes:
        """This installation's device public key, creating the device key on first use."""
        with self._locked(create=True, random_bytes=random_bytes):
            return device.load_or_create(self, random_bytes).public

    def installed_license(self) -> bytes | None:
        """The installed license document (binary), or None."""
        return licenses.installed(self) if self._check_directory() else None

    def installed_activation(self) -> bytes | None:
        """The installed activation response (binary), or None (also once deactivated)."""
        return activation.installed(self) if self._check_directory() else None

    def import_license(
        self,
        document: bytes,
        *,
        trusted_roots: TrustedRoots | Any,
        product: str,
        now: datetime,
        fingerprint: Mapping[str, bytes] | None = None,
    ) -> License:
        """Verify a license and install it (activation is checked later, by ``check``).

        A newer version of the installed license (a renewal) replaces it
        without deactivating; a version older than one seen here is refused.

        ``document`` may be a bundle (format §5.1): the armored license
        followed by revocation lists. Every list is verified before anything
        is written; the newest is installed with the license when it is newer
        than the installed list, and ignored otherwise.

        A license the newest list (riding along, else installed) revokes is
        refused and the installed license stays (format §13.3); a newer
        version the list does not name imports. A list riding along that
        revokes its own license is installed all the same.

        Raises:
            LicenseError: the license or a list riding along does not verify,
                an activation for another license is installed (deactivate it
                first), or this store has seen a newer version of it
                (``StoreError``); ``RevokedError`` if the list revokes the
                license or its issuing key; ``StoreError`` if the installed
                list no longer verifies.
        """
        main, lists = split_main_and_lists(_as_bytes(document))
        lic = verify_license_for_import(
            main, trusted_roots=trusted_roots, product=product, now=now, fingerprint=fingerprint
        )
        verifier, riding = self._verify_lists(lists, trusted_roots, product, now)
        with self._locked(create=True):
            at, issued = to_timestamp(now), lic.terms.issued_at
            state.guard(self, at, self.clock_tolerance, issued)
            chosen = revocations.riding_along(self, riding, verifier, now) if riding else None
            revocations.refuse_revoked(self, lic, chosen, verifier, now)
            licenses.install(self, lic)
            state.observe(self, at, issued)
            if chosen is not None:
                revocations.write(self, chosen)
        return lic

    @staticmethod
    def _verify_lists(
        lists: list[bytes], trusted_roots: TrustedRoots | Any, product: str, now: datetime
    ) -> tuple[Verifier, list[RevocationList]]:
        """Verify every revocation list riding along in a bundle (format §5.1): fail closed."""
        verifier = Verifier(trusted_roots=trusted_roots, product=product)
        return verifier, [verifier.verify_revocation_list(lst, now=now) for lst in lists]

    def request(
        self,
        *,
        now: datetime,
        fingerprint: Mapping[str, bytes],
        label: str,
        user: str | None = None,
        code: str | None = None,
        random_bytes: Callable[[int], bytes] = os.urandom,
        lease: timedelta | None = None,
    ) -> bytes:
        """Create an armored activation request for the installed license, signed by the device key.

        ``lease`` asks for a floating seat for that long (``licverify reserve --for``);
        the vendor grants at most the license's lease.
        """
        seconds = None if lease is None else int(lease.total_seconds())
        if seconds is not None and not MIN_LEASE <= seconds <= MAX_LEASE:
            raise ValueError(f"a lease is {MIN_LEASE} s to {MAX_LEASE // 86400} days")
        at = to_timestamp(now)
        with self._locked(random_bytes=random_bytes):
            state.guard(self, at, self.clock_tolerance)
            signed = pending.make_request(
                self, at=at, fingerprint=fingerprint, label=label, user=user, code=code,
                random_bytes=random_bytes, lease=seconds,
            )  # fmt: skip
            state.observe(self, at)
        return armor(signed, ACTIVATION_REQUEST)

    def install(
        self,
        document: bytes,
        *,
        trusted_roots: TrustedRoots | Any,
        product: str,
        now: datetime,
        fingerprint: Mapping[str, bytes],
    ) -> License:
        """Verify an activation response for this store's request, device and machine; install it.

        Installing the response already installed is harmless. ``document``
        may be a bundle (format §5.1): the armored response followed by
        revocation lists, handled as by ``import_license``.

        Raises:
            LicenseError: it or a list riding along does not verify, answers a
                request this store did not make (or made for another license),
                names another device or machine, or the license with it does
                not verify.
        """
        roots = TrustedRoots.coerce(trusted_roots)
        main, lists = split_main_and_lists(_as_bytes(document))
        response, binary, _ = open_response(main, roots)
        verifier, riding = self._verify_lists(lists, roots, product, now)
        with self._locked():
            at = to_timestamp(now)
            state.guard(self, at, self.clock_tolerance, response.issued_at)
            chosen = revocations.riding_along(self, riding, verifier, now) if riding else None
            lic = activation.install(
                self, response, binary, roots=roots, product=product, now=now,
                fingerprint=fingerprint,
            )  # fmt: skip
            if chosen is not None:
                revocations.write(self, chosen)
            state.observe(self, at, response.issued_at)
            return lic

    def check(
        self,
        *,
        trusted_roots: TrustedRoots | Any,
        product: str,
        now: datetime,
        fingerprint: Mapping[str, bytes],
        app_version: str | None = None,
        app_release_date: datetime | None = None,
    ) -> License:
        """The application's check: the installed license, with its activation if any.

        Raises:
            LicenseError: not licensed here (``code`` says why).
        """
        if not self._check_directory():
            raise NotActivatedError("no license is installed on this machine")
        at = to_timestamp(now)
        judged, advance = state.effective_time(self, at, self.clock_tolerance)
        try:
            lic = self._check_at(trusted_roots, product, from_timestamp(judged), fingerprint,
                                 app_version, app_release_date)  # fmt: skip
        except StoreError:
            raise  # a store that cannot be used is left as it is
        except LicenseError:
            if advance:  # the time seen is real whatever the verdict (an expired license too)
                self._advance_clock(at)
            raise
        if advance:
            self._advance_clock(at)
        return lic

    def _advance_clock(self, at: int) -> None:
        """Let the ratchet follow the clock after a check (best effort: a store on read-only
        media still checks, without a ratchet that moves)."""
        try:
            with self._locked():
                state.observe(self, at)
        except StoreError:
            pass

    def _check_at(
        self,
        trusted_roots: TrustedRoots | Any,
        product: str,
        now: datetime,
        fingerprint: Mapping[str, bytes],
        app_version: str | None,
        app_release_date: datetime | None,
    ) -> License:
        # Format §13.3: the installed revocation list, if any, applies to the license, its
        # issuing key and its activation. When the check fails for another reason, the list
        # is applied to the license alone first, so a revoked license reads "revoked" even
        # where it was never activated; when it succeeds, to what it verified (once).
        verifier = Verifier(trusted_roots=trusted_roots, product=product)
        revoked = revocations.installed(self, verifier, now)
        try:
            lic = self._activated(trusted_roots, product, now, fingerprint, app_version,
                                  app_release_date)  # fmt: skip
        except LicenseError:
            if revoked is not None:
                revocations.refuse_installed(self, revoked, verifier, now, fingerprint)
            raise
        if revoked is not None:
            revoked.check(lic)
            response = self.installed_activation()
            if lic.activation is not None and response is not None:
                revoked.check_response(response)
        return lic

    def _activated(
        self,
        trusted_roots: TrustedRoots | Any,
        product: str,
        now: datetime,
        fingerprint: Mapping[str, bytes],
        app_version: str | None,
        app_release_date: datetime | None,
    ) -> License:
        """The installed license with its activation, verified (``activation.check``)."""
        try:
            lic = activation.check(
                self, trusted_roots=trusted_roots, product=product, now=now,
                fingerprint=fingerprint, app_version=app_version,
                app_release_date=app_release_date,
            )  # fmt: skip
        except NotActivatedError:
            version = licenses.renewed_since_activation(self)
            if version is None:
                raise
            # The activation names the previous version's digest (format §11.4): the seat
            # carries over, but the machine must ask for a response for this version.
            raise NotActivatedError(
                f"renewed license installed (version {version}): request a new activation"
                " for it (licverify request) and send it to your vendor; the seat carries over"
            ) from None
        return lic

    def import_revocations(
        self, document: bytes, *, trusted_roots: TrustedRoots | Any, product: str, now: datetime
    ) -> RevocationList:
        """Verify a revocation list and install it, unless a newer one is installed (format §13.3).

        Installing the list already installed is harmless. ``check`` then
        refuses the installed license (``revoked``) if the list names it, its
        issuing key or its activation.

        Raises:
            LicenseError: the list does not verify; ``StoreError`` if a list
                with a higher number (or another with the same number) is
                installed; ``RevokedError`` if the installed list revokes its
                signer.
        """
        verifier = Verifier(trusted_roots=trusted_roots, product=product)
        new = verifier.verify_revocation_list(document, now=now)
        with self._locked(create=True):
            at = to_timestamp(now)
            state.guard(self, at, self.clock_tolerance, new.issued_at)
            revocations.install(self, new, verifier, now)
            state.observe(self, at, new.issued_at)
        return new

    def installed_revocations(
        self, *, trusted_roots: TrustedRoots | Any, product: str, now: datetime
    ) -> RevocationList | None:
        """The installed revocation list, verified again, or None."""
        if not self._check_directory():
            return None
        verifier = Verifier(trusted_roots=trusted_roots, product=product)
        return revocations.installed(self, verifier, now)

    def deactivate(
        self, *, now: datetime, random_bytes: Callable[[int], bytes] = os.urandom
    ) -> bytes:
        """Remove the activation, rotate the device key, and return an armored receipt.

        The receipt is signed by the old device key and kept in the store until
        the next deactivation replaces it, so it can be written out again if it
        gets lost (calling this again without an activation returns it).
        After this, the old response can never be installed again. Writing
        the receipt is the commit point: if a later step fails (a full
        disk), the machine already counts as deactivated and the next call
        finishes the cleanup and returns the same receipt.

        Raises:
            StoreError: nothing is activated (and no receipt is pending).
        """
        at = to_timestamp(now)
        # The lock finishes a deactivation cut short: then the receipt is returned again.
        with self._locked(random_bytes=random_bytes):
            state.guard(self, at, self.clock_tolerance)
            receipt = activation.deactivate(self, at, random_bytes)
            state.observe(self, at)
        return armor(receipt, DEACTIVATION_RECEIPT)

    def pending_receipt(self) -> bytes | None:
        """The last deactivation receipt (armored), if one was ever made here."""
        data = activation.last_receipt(self) if self._check_directory() else None
        return None if data is None else armor(data, DEACTIVATION_RECEIPT)

    def consume(self, counter: str, amount: int = 1, *, license: License, now: datetime) -> int:
        """Consume ``amount`` units of ``counter`` and return how many are left (format §12.5).

        ``license`` is what ``check`` returned: its counters give the limit and
        the overage. The units are on disk when this returns; processes
        consuming at once never lose or double-count one.

        Raises:
            LimitReachedError: limit plus overage would be passed, or the license
                has no such counter; nothing is consumed.
            ClockRolledBackError: the clock is set back.
            StoreError: the counter log or its head is damaged, or older than the
                other (restored from a copy).
        """
        ceiling = _ceiling(license, counter)
        if type(amount) is not int or amount < 1:
            raise ValueError("amount must be a positive integer")
        at = to_timestamp(now)
        with self._locked():
            key = state.store_key(self)
            head = state.load_head(self, key)
            state.reconcile(self, key, head)
            state.check_clock(head, at, self.clock_tolerance)
            return state.consume(self, key, head, at, (license.id, counter, amount, ceiling))

    def remaining(self, counter: str, *, license: License) -> int:
        """How many units of ``counter`` are left: limit plus overage, less what was consumed.

        Raises:
            LimitReachedError: the license has no such counter.
            StoreError: the counter log or its head is damaged, or restored from a copy.
        """
        ceiling = _ceiling(license, counter)
        if not self._check_directory():
            return ceiling
        key = self._read(STATE_KEY)
        head = state.load_head(self, key)
        if key is not None:
            state.reconcile(self, key, head)
        return head.left(license.id, counter, ceiling)

    def import_refill(
        self, document: bytes, *, trusted_roots: TrustedRoots | Any, product: str, now: datetime
    ) -> CounterRefill:
        """Verify a counter refill for this store's activation and add its units, once (§14.2).

        Raises:
            LicenseError: it does not verify or is for another product;
                ``WrongMachineError`` if it is for another activation or device;
                ``StoreError`` if it was applied here already; ``ClockRolledBackError``.
        """
        from licverify._usage import open_refill

        refill, _ = open_refill(_as_bytes(document), TrustedRoots.coerce(trusted_roots), product)
        at = to_timestamp(now)
        with self._locked():
            state.guard(self, at, self.clock_tolerance, refill.issued_at)
            _require_activation(self, refill.activation_id, refill.device_key)
            key = state.store_key(self)
            head = state.load_head(self, key)
            state.reconcile(self, key, head)
            entry = (refill.license_id, refill.counter, refill.amount, refill.refill_id)
            state.refill(self, key, head, at, entry)
            state.observe(self, at, refill.issued_at)
        return refill

    def import_clock_reset(
        self, document: bytes, *, trusted_roots: TrustedRoots | Any, product: str, now: datetime
    ) -> ClockReset:
        """Verify a clock reset for this store's activation and set the clock ratchet to the
        time the vendor signed it, once (format §14.3): the way out of a ratchet that a clock
        set wrong (ahead) pushed too far.

        Raises:
            LicenseError: it does not verify or is for another product;
                ``WrongMachineError`` if it is for another activation or device;
                ``StoreError`` if it was applied here already; ``ClockRolledBackError``
                if the clock is behind the reset's time.
        """
        from licverify._kinds import CLOCK_RESET
        from licverify._usage import open_issuing_signed

        reset, _ = open_issuing_signed(
            _as_bytes(document), TrustedRoots.coerce(trusted_roots), product, CLOCK_RESET
        )
        with self._locked():
            _require_activation(self, reset.activation_id, reset.device_key, "clock reset")
            state.reset_clock(self, to_timestamp(now), self.clock_tolerance,
                              (reset.reset_id, reset.issued_at))  # fmt: skip
        return cast("ClockReset", reset)

    def usage_report(
        self, *, now: datetime, random_bytes: Callable[[int], bytes] = os.urandom
    ) -> bytes:
        """A usage report (armored, signed by the device key): what the counter log says for
        the installed license, with the next report number (format §14.1).

        Raises:
            StoreError: no license is installed, or the log or its head is damaged.
            ClockRolledBackError: the clock is set back.
        """
        from licverify._usage import UsageReport, encode_usage_payload

        at = to_timestamp(now)
        with self._locked(random_bytes=random_bytes):
            state.guard(self, at, self.clock_tolerance)
            terms = _installed_terms(self)
            key = state.store_key(self, random_bytes)
            head = state.load_head(self, key)
            state.reconcile(self, key, head)
            head.reports += 1
            head.not_before = max(head.not_before, at)
            mine = {c: n for (lic, c), n in head.totals.items() if lic == terms.id and n}
            extra = {c: n for (lic, c), n in head.extra.items() if lic == terms.id and n}
            signer = device.load_or_create(self, random_bytes)
            report = UsageReport(
                issued_at=at, license_id=terms.id, product=terms.product, device_key=signer.public,
                seq=head.reports, records=head.seq, head=head.last, totals=mine,
                refilled=extra, clock=head.not_before,
            )  # fmt: skip
            signed = signer.sign(USAGE_REPORT, encode_usage_payload(report))
            state.save_head(self, key, head)
        return armor(signed, USAGE_REPORT)

    def pending_requests(self) -> dict[str, dict[str, Any]]:
        """Nonces (hex) of requests still waiting for a response."""
        return pending.load(self) if self._check_directory() else {}


def _installed_terms(store: LocalStore) -> LicenseTerms:
    """The installed license's terms (verified when it was imported)."""
    terms = licenses._unverified_terms(licenses.installed(store))
    if terms is None:
        raise StoreError(f"no license is installed in {store.path}; import one first")
    return terms


def _require_activation(
    store: LocalStore, activation_id: str, device_key: bytes, what: str = "refill"
) -> None:
    """The installed activation is ``activation_id``, held by this store's device key."""
    from licverify._activation import decode_response_payload
    from licverify._verify import open_envelope

    response, key = activation.installed(store), device.load(store)
    if response is None or key is None:
        raise NotActivatedError(f"this {what} is for an activation, and this machine has none")
    current = decode_response_payload(open_envelope(response)[0].payload)
    if current.activation_id != activation_id or key.public != device_key:
        raise WrongMachineError(
            f"this {what} is for activation {activation_id} of another device; this machine "
            f"holds {current.activation_id}"
        )


def _ceiling(license: License, counter: str) -> int:
    """Limit plus overage of ``counter`` in ``license``."""
    if not isinstance(license, License):
        raise TypeError("license must be the License that check() returned")
    entry = license.terms.counters.get(counter)
    granted = 0 if license.activation is None else license.activation.counters.get(counter, 0)
    if entry is None and not granted:
        raise LimitReachedError(f"license {license.id} grants no counter {counter!r}")
    # The activation's grant (format §11.2 ``counters``) adds to the license's own.
    return (0 if entry is None else entry.limit + entry.overage) + granted


__all__ = ["LocalStore"]
