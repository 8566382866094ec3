"""Ledger records of trials: per product, the machines that took one (issue 9).

A machine is named by the ``machine-id`` component of its activation
request's fingerprint: an HMAC salted per product (docs/format.md §8), kept
in hex, so the same machine has unrelated names under two products and the
ledger never holds a raw identifier. The primary key (product, machine)
holds one trial per machine and product, whatever license, customer or
device asks later; rows are never ended or removed (a deactivation or a
reset frees the seat, not the trial). The activation service checks and
records a trial in the unit of work that takes the seat, and appends the
``trial.taken`` event ``ledger verify`` replays (below).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from licsign._ledger.events import Events
from licsign._ledger.integrity import AT, MAKE, SUBJECT, Change, on, track


@dataclass(frozen=True, slots=True)
class TrialRecord:
    """A trial a machine took: the product, the machine, the license and when."""

    product_id: str
    #: The request's ``machine-id`` digest (salted per product), in hex.
    machine: str
    license_id: str
    activation_id: str
    device_id: str
    taken_at: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> TrialRecord:
        """Build from a ``trials`` row."""
        return cls(row["product_id"], row["machine"], row["license_id"], row["activation_id"],
                   row["device_id"], int(row["taken_at"]))  # fmt: skip


class Trials(Events):
    """Mixed into ``Ledger``: which machines took a trial of a product (writes inside
    ``transaction()``, the ledger's write lock, so two requests cannot both take one)."""

    def trial_of(self, product_id: str, machine: str) -> TrialRecord | None:
        """The trial ``machine`` took of ``product_id``, or None if it took none."""
        row = self._db.one(
            "SELECT * FROM trials WHERE product_id = ? AND machine = ?", (product_id, machine)
        )
        return None if row is None else TrialRecord.from_row(row)

    def trials_of(self, license_id: str) -> list[TrialRecord]:
        """The trials taken on ``license_id``, oldest first."""
        rows = self._db.all(
            "SELECT * FROM trials WHERE license_id = ? ORDER BY taken_at, machine", (license_id,)
        )
        return [TrialRecord.from_row(r) for r in rows]

    def add_trial(self, trial: TrialRecord) -> None:
        """Record that a machine took its trial (the caller appends the ``trial.taken`` event)."""
        self._db.run(
            "INSERT INTO trials (product_id, machine, license_id, activation_id, device_id,"
            " taken_at) VALUES (?,?,?,?,?,?)",
            (trial.product_id, trial.machine, trial.license_id, trial.activation_id,
             trial.device_id, trial.taken_at),
        )  # fmt: skip


# What a trial's event does to rows, for ``licsign ledger verify`` (licsign/_ledger/integrity.py):
# ``trial.taken`` (subject: the license) makes the machine's row, once.
track("trials", key=("product_id", "machine"))
on("trial.taken", Change("trials", ("product", "machine"), MAKE, license_id=SUBJECT,
                         activation_id="activation", device_id="device", taken_at=AT))  # fmt: skip
