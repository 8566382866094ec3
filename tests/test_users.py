"""License users and their one-time activation codes (issue 8, "Users"), on both ledger engines.

A user-based license (max users, allowed users or a per-user device cap)
gives a new seat only to an assigned user whose request carries a valid,
unused code; the code is used in the activation's own unit of work, so it
takes one seat, once, however many processes race with it. Every refusal
leaves the ledger exactly as it was. Freeing a user's seats (``user reset``,
``user remove``, ``user reassign``) counts transfers as ``device reset`` does.
"""

from __future__ import annotations

import json
import multiprocessing
import re
import stat
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from harness import (
    PW,
    Site,
    Vendor,
    at,
    error_line,
    usage_line,
)

from licsign import (
    AlreadyExistsError,
    InvalidFieldError,
    IssuedLicense,
    NotFoundError,
    RefusedError,
    Workspace,
    WorkspaceError,
    activate,
    assign_user,
    change_user_email,
    license_users,
    new_user_code,
    reassign_user,
    remove_user,
    rename_user,
    reset_user,
)
from licsign._services.codes import ALPHABET, CODE_BITS, canonical_code, new_code, show_code

CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def user_license(vendor: Vendor, **terms: Any) -> IssuedLicense:
    """A perpetual, activation-required license counting users (two unless told)."""
    if not {"max_users", "users", "max_devices_per_user"} & set(terms):
        terms["max_users"] = 2
    return vendor.issue("perpetual", **terms)


def seat_for(vendor: Vendor, lic: IssuedLicense, machine: str, user: str, code: str) -> str:
    """``machine`` imports the license and takes a seat for ``user`` with ``code``; its activation."""
    return vendor.machine(machine).activate(lic, user=user, code=code).activation_id


def refused_unchanged(vendor: Vendor, request: bytes, match: str) -> str:
    """The vendor refuses ``request`` with a line matching ``match``, and the ledger is unchanged."""
    before = vendor.ledger_dump()
    with pytest.raises(RefusedError, match=match) as info:
        vendor.activate(request)
    assert vendor.ledger_dump() == before
    assert "\n" not in str(info.value)
    return str(info.value)


def _t(seconds: int) -> int:
    """``at(seconds)`` as the ledger records times (NumericDate)."""
    return int(at(seconds).timestamp())


# --- codes --------------------------------------------------------------------------------------


def test_a_code_has_sixty_bits_in_three_groups_read_loosely() -> None:
    assert CODE_BITS >= 40 and len(ALPHABET) == 32 and not set("ILOU") & set(ALPHABET)
    made = new_code(lambda n: b"\xff" * n)
    assert made == "Z" * 12 and show_code(made) == "ZZZZ-ZZZZ-ZZZZ"
    assert new_code(lambda n: bytes(n)) == "0" * 12
    assert canonical_code(" 7k2m-qx4d-9rtb ") == "7K2MQX4D9RTB"
    assert canonical_code("O1IL-0000-0000") == "0111" + "0" * 8  # read as typed by ear
    for bad in ("7K2M-QX4D-9RT", "7K2M-QX4D-9RTBX", "7K2M-QX4D-9RTU", "", "-" * 100):
        assert canonical_code(bad) is None


def test_assign_prints_a_code_the_ledger_keeps_only_as_a_keyed_hash(vendor: Vendor) -> None:
    lic = user_license(vendor)
    done = assign_user(vendor.ws, lic.id, "  Alice@Example.COM ", now=vendor.now, name="Alice",
                       max_devices=1)  # fmt: skip
    assert CODE.match(done.code)
    assert (done.user.email, done.user.name, done.user.max_devices) == (
        "alice@example.com",
        "Alice",
        1,
    )
    assert (done.user.seats, done.user.code) == (0, "unused")
    assert done.to_json()["activation_code"] == done.code and done.to_json()["code"] == "unused"
    dump = json.dumps(vendor.ledger_dump(), default=lambda b: bytes(b).hex())
    for form in (done.code, done.code.replace("-", "")):
        assert form not in dump and form.lower() not in dump
    (row,) = vendor.ledger_dump()["user_codes"]
    assert len(bytes(row["code_hash"])) == 32 and row["ended_at"] is None
    assert vendor.event_kinds(lic.id)[-2:] == ["user.assigned", "user.code_issued"]
    # The key lives in the workspace, 0600, never in the ledger.
    key = Path(vendor.home) / "keys" / "user-codes.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_bytes().split(b"\n")[1].decode() not in dump
    assert vendor.ws.ledger.verify_events() == vendor.event_count()


def test_a_code_takes_one_seat_once_and_a_renewal_needs_none(vendor: Vendor) -> None:
    lic = user_license(vendor, max_devices=5)
    code = vendor.assign(lic, "alice@example.com")
    m1 = vendor.machine("m1")
    granted = m1.activate(lic, user="alice@example.com", code=code)
    assert not granted.reused and m1.check().activation.user == "alice@example.com"  # type: ignore[union-attr]
    (used,) = vendor.ledger_dump()["user_codes"]
    assert (used["end_reason"], used["activation_id"]) == ("used", granted.activation_id)
    assert vendor.event_kinds(lic.id)[-2:] == ["user.code_used", "activation.created"]
    # The same code on another machine: refused, nothing recorded.
    m2 = vendor.machine("m2")
    m2.import_license(lic)
    line = refused_unchanged(
        vendor, m2.request(user="alice@example.com", code=code), "already used"
    )
    assert f"user alice@example.com on license {lic.id}" in line and granted.activation_id in line
    assert f"'licsign user new-code {lic.id} alice@example.com'" in line
    # The first machine renews its seat with no code (and its used code changes nothing).
    assert m1.activate(when=at(60), user="alice@example.com").reused
    assert m1.activate(when=at(120), user="alice@example.com", code=code).reused
    assert vendor.open_seats(lic.id) == 1
    assert vendor.ws.ledger.verify_events() == vendor.event_count()


def test_the_ledger_marks_a_code_used_once_and_says_so(vendor: Vendor) -> None:
    lic = user_license(vendor)
    vendor.assign(lic, "alice@example.com")
    ledger = vendor.ws.ledger
    user = ledger.license_user(lic.id, "alice@example.com")
    assert user is not None
    code = ledger.unused_code(user.id)
    assert code is not None
    with ledger.transaction():
        assert ledger.use_user_code(_t(5), user, code, "A-FIRST") is True
        assert ledger.use_user_code(_t(6), user, code, "A-SECOND") is False
    (row,) = vendor.ledger_dump()["user_codes"]
    assert (row["end_reason"], row["activation_id"], row["ended_at"]) == (
        "used", "A-FIRST", _t(5))  # fmt: skip
    assert vendor.event_count("user.code_used") == 1  # nothing recorded for the second
    assert vendor.ws.ledger.verify_events() == vendor.event_count()


def test_a_code_used_between_its_check_and_its_seat_refuses_and_rolls_back(
    vendor: Vendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    lic = user_license(vendor)
    code = vendor.assign(lic, "alice@example.com")
    m1 = vendor.machine("m1")
    m1.import_license(lic)
    request = m1.request(user="alice@example.com", code=code)
    ledger_type = type(vendor.ws.ledger)
    add_activation = ledger_type.add_activation
    sneaked: list[bool] = []

    def used_meanwhile(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not sneaked:  # once: another writer uses the code after it was checked
            sneaked.append(True)
            user = self.license_user(lic.id, "alice@example.com")
            assert self.use_user_code(_t(1), user, self.unused_code(user.id), "A-OTHER")
        return add_activation(self, *args, **kwargs)

    monkeypatch.setattr(ledger_type, "add_activation", used_meanwhile)
    line = refused_unchanged(vendor, request, "was already used")
    assert f"the activation code for user alice@example.com on license {lic.id}" in line
    assert f"'licsign user new-code {lic.id} alice@example.com'" in line
    assert vendor.open_seats(lic.id) == 0
    # The whole unit rolled back: the code is still unused and takes the seat.
    assert m1.activate(user="alice@example.com", code=code).activation_id
    assert vendor.open_seats(lic.id) == 1


def test_a_code_typed_in_lower_case_without_groups_works(vendor: Vendor) -> None:
    lic = user_license(vendor)
    code = vendor.assign(lic, "bob")
    typed = code.replace("-", "").lower().replace("0", "o").replace("1", "l")
    assert vendor.machine("m1").activate(lic, user="Bob", code=typed).activation_id


@pytest.mark.parametrize(
    ("case", "match"),
    [
        (
            "no code",
            r"needs user alice@example.com's activation code: make the request with --user and --code",
        ),
        (
            "wrong code",
            r"the activation code for user alice@example.com on license \S+ is not valid",
        ),
        ("not a code", r"is not valid; check it"),
        (
            "unassigned user",
            r"user carol@example.com is not assigned to license \S+; the vendor assigns",
        ),
        ("no user", r"counts users; make the request with --user"),
    ],
)
def test_a_new_seat_without_a_valid_code_is_refused_and_changes_nothing(
    vendor: Vendor, case: str, match: str
) -> None:
    lic = user_license(vendor)
    code = vendor.assign(lic, "alice@example.com")
    wrong = show_code(new_code(lambda n: b"\x5a" * n))
    assert wrong != code
    m1 = vendor.machine("m1")
    m1.import_license(lic)
    user, typed = {
        "no code": ("alice@example.com", None), "wrong code": ("alice@example.com", wrong),
        "not a code": ("alice@example.com", "let me in"), "unassigned user": ("carol@example.com", code),
        "no user": (None, code),
    }[case]  # fmt: skip
    refused_unchanged(vendor, m1.request(user=user, code=typed), match)
    # The right code still works afterwards: a refusal used nothing up.
    assert m1.activate(user="alice@example.com", code=code).activation_id


def test_new_code_replaces_the_unused_one(vendor: Vendor) -> None:
    lic = user_license(vendor)
    first = vendor.assign(lic, "alice@example.com")
    made = new_user_code(vendor.ws, lic.id, "ALICE@example.com", now=at(10))
    assert made.replaced and CODE.match(made.code) and made.code != first
    assert made.to_json()["replaced"] is True
    m1 = vendor.machine("m1")
    m1.import_license(lic)
    refused_unchanged(
        vendor, m1.request(user="alice@example.com", code=first), "was replaced by a newer code on "
    )
    assert m1.activate(user="alice@example.com", code=made.code).activation_id
    # After a code is used, a new one replaces nothing.
    assert not new_user_code(vendor.ws, lic.id, "alice@example.com", now=at(20)).replaced
    with pytest.raises(
        NotFoundError, match=r"user nobody is not assigned to license .* alice@example.com"
    ):
        new_user_code(vendor.ws, lic.id, "nobody", now=at(30))


def test_each_new_device_of_a_user_needs_its_own_code(vendor: Vendor) -> None:
    lic = user_license(vendor, max_devices_per_user=2)
    seat_for(vendor, lic, "m1", "alice", vendor.assign(lic, "alice"))
    m2 = vendor.machine("m2")
    m2.import_license(lic)
    refused_unchanged(vendor, m2.request(user="alice"), "needs user alice's activation code")
    refused_unchanged(
        vendor, m2.request(user="alice", code="0000-0000-0000"), "has no unused activation code"
    )
    assert m2.activate(user="alice", code=vendor.new_code(lic, "alice")).activation_id
    m3 = vendor.machine("m3")
    m3.import_license(lic)
    refused_unchanged(vendor, m3.request(user="alice", code=vendor.new_code(lic, "alice")),
                      r"user alice has 2 of 2 devices")  # fmt: skip


# --- assign: refusals ---------------------------------------------------------------------------


def test_assign_refuses_a_license_that_is_not_user_based(vendor: Vendor) -> None:
    lic = vendor.issue("perpetual", max_devices=3)
    before = vendor.ledger_dump()
    with pytest.raises(RefusedError, match=rf"license {lic.id} is not user-based .*--max-users"):
        assign_user(vendor.ws, lic.id, "alice", now=vendor.now)
    assert vendor.ledger_dump() == before
    assert not (Path(vendor.home) / "keys" / "user-codes.key").exists()


def test_assign_refuses_past_max_users_and_users_the_license_does_not_allow(vendor: Vendor) -> None:
    lic = user_license(vendor, max_users=2)
    vendor.assign(lic, "alice")
    vendor.assign(lic, "bob")
    before = vendor.ledger_dump()
    with pytest.raises(
        RefusedError, match=rf"license {lic.id} has 2 of 2 users: alice, bob; remove one"
    ):
        vendor.assign(lic, "carol")
    with pytest.raises(AlreadyExistsError, match="user alice is already assigned"):
        vendor.assign(lic, " ALICE ")
    named = vendor.issue("perpetual", users=["ann@example.com"])
    with pytest.raises(
        RefusedError, match=r"does not allow user 'bob@example.com' \(allowed: ann@example.com\)"
    ):
        vendor.assign(named, "bob@example.com")
    assert vendor.ledger_dump()["license_users"] == before["license_users"]
    assert vendor.assign(named, "Ann@Example.com")
    with pytest.raises(NotFoundError, match="unknown license"):
        vendor.assign("L-NOPE", "ann@example.com")


def test_per_user_caps_must_fit_the_license(vendor: Vendor) -> None:
    lic = user_license(vendor, max_users=3, max_devices=4, max_devices_per_user=3)
    with pytest.raises(RefusedError, match="allows 3 devices per user; a cap of 4 does not fit"):
        vendor.assign(lic, "alice", max_devices=4)
    vendor.assign(lic, "alice", max_devices=3)
    vendor.assign(lic, "bob")  # no cap of their own: the license's apply
    with pytest.raises(
        RefusedError, match=r"would total 5, more than its 4 devices \(caps held: alice 3\)"
    ):
        vendor.assign(lic, "carol", max_devices=2)
    assert vendor.assign(lic, "carol", max_devices=1)


@pytest.mark.parametrize(
    ("email", "options", "field"),
    [
        ("", {}, "user"),
        ("ann\u200b@example.com", {}, "user"),
        ("a" * 300, {}, "user"),
        ("ann@example.com", {"max_devices": 0}, "max_devices"),
        ("ann@example.com", {"name": "\x1b[2J"}, "name"),
    ],
    ids=["empty", "zero-width space", "too long", "cap of zero", "control in name"],
)
def test_assign_refuses_bad_input(
    vendor: Vendor, email: str, options: dict[str, Any], field: str
) -> None:
    lic = user_license(vendor)
    with pytest.raises(InvalidFieldError) as info:
        vendor.assign(lic, email, **options)
    assert info.value.field == field


def test_a_user_cap_from_assignment_applies_at_activation(vendor: Vendor) -> None:
    lic = user_license(vendor, max_devices=4)
    seat_for(vendor, lic, "m1", "alice", vendor.assign(lic, "alice", max_devices=1))
    m2 = vendor.machine("m2")
    m2.import_license(lic)
    line = refused_unchanged(vendor, m2.request(user="alice", code=vendor.new_code(lic, "alice")),
                             "user alice has 1 of 1 devices")  # fmt: skip
    assert "host-m1" in line


# --- rename, change e-mail, list ----------------------------------------------------------------


def test_rename_and_change_email_keep_the_seats_and_the_unused_code(vendor: Vendor) -> None:
    lic = user_license(vendor, max_devices=3)
    seat = seat_for(
        vendor, lic, "m1", "ann@old.example", vendor.assign(lic, "ann@old.example", name="Ann")
    )
    renamed = rename_user(vendor.ws, lic.id, "ann@old.example", "Ann Smith", now=at(1))
    assert renamed.name == "Ann Smith" and renamed.seats == 1
    code = vendor.new_code(lic, "ann@old.example")
    moved = change_user_email(vendor.ws, lic.id, "ann@old.example", "Ann@New.example", now=at(2))
    assert (moved.email, moved.name, moved.seats, moved.code) == (
        "ann@new.example",
        "Ann Smith",
        1,
        "unused",
    )
    assert [a["user"] for a in vendor.open_activations(lic.id)] == ["ann@new.example"]
    event = vendor.events(lic.id)[-1]
    assert event["kind"] == "user.email_changed" and seat in event["data"]
    m1 = vendor.machine("m1")
    # The seat renews under the new e-mail.
    assert m1.activate(when=at(3), user="ann@new.example").reused
    m2 = vendor.machine("m2")
    m2.import_license(lic)
    refused_unchanged(
        vendor, m2.request(at(4), user="ann@old.example", code=code), "is not assigned"
    )
    assert m2.activate(when=at(5), user="ann@new.example", code=code).activation_id
    with pytest.raises(InvalidFieldError, match="already has that e-mail"):
        change_user_email(vendor.ws, lic.id, "ann@new.example", "ANN@new.example", now=at(6))
    vendor.assign(lic, "bob")
    with pytest.raises(AlreadyExistsError):
        change_user_email(vendor.ws, lic.id, "ann@new.example", "bob", now=at(7))
    with pytest.raises(NotFoundError):
        rename_user(vendor.ws, lic.id, "nobody", "X", now=at(8))
    assert vendor.ws.ledger.verify_events() == vendor.event_count()


def test_list_shows_caps_seats_and_code_states(vendor: Vendor) -> None:
    lic = user_license(vendor, max_users=3)
    seat_for(vendor, lic, "m1", "alice", vendor.assign(lic, "alice", name="Alice", max_devices=2))
    vendor.assign(lic, "bob")
    vendor.assign(lic, "carol")
    remove_user(vendor.ws, lic.id, "carol", now=at(1))
    rows = license_users(vendor.ws, lic.id, now=at(2))
    assert [(r.email, r.name, r.max_devices, r.seats, r.code) for r in rows] == [
        ("alice", "Alice", 2, 1, "used"), ("bob", None, None, 0, "unused"),
    ]  # fmt: skip
    every = license_users(vendor.ws, lic.id, now=at(2), removed=True)
    assert [(r.email, r.code, r.removed_at is not None) for r in every][-1] == (
        "carol",
        "removed",
        True,
    )
    assert every[0].to_json()["added_at"].endswith("Z")
    with pytest.raises(NotFoundError):
        license_users(vendor.ws, "L-NOPE", now=at(2))


# --- freeing seats: reset, remove, reassign -----------------------------------------------------


def two_seats(vendor: Vendor, **terms: Any) -> tuple[IssuedLicense, list[str]]:
    """A license with alice on two machines (and bob on none)."""
    lic = user_license(vendor, max_devices=4, **terms)
    seats = [seat_for(vendor, lic, "m1", "alice", vendor.assign(lic, "alice"))]
    seats.append(seat_for(vendor, lic, "m2", "alice", vendor.new_code(lic, "alice")))
    vendor.assign(lic, "bob")
    return lic, seats


def test_reset_frees_every_seat_of_the_user_counted_as_transfers(vendor: Vendor) -> None:
    lic, seats = two_seats(vendor, max_transfers=5)
    freed = reset_user(vendor.ws, lic.id, "Alice", now=at(10))
    assert [s.activation_id for s in freed.seats] == seats and not freed.removed
    assert freed.transfers_used == 2 and all(s.transfer for s in freed.seats)
    assert freed.to_json()["seats"][0]["works_offline_until"] is None
    assert vendor.open_seats(lic.id) == 0
    kinds = vendor.event_kinds(lic.id)
    assert kinds[-3:] == ["device.reset", "device.reset", "user.reset"]
    assert json.loads(vendor.events(lic.id)[-2]["data"])["reason"] == "user reset"
    # Still assigned; a new seat needs a new code.
    m1 = vendor.machine("m1")
    refused_unchanged(
        vendor, m1.request(at(11), user="alice"), "needs user alice's activation code"
    )
    assert m1.activate(when=at(12), user="alice", code=vendor.new_code(lic, "alice")).activation_id
    # A user with no seat: nothing to free, nothing recorded.
    count = vendor.event_count()
    assert reset_user(vendor.ws, lic.id, "bob", now=at(13)).seats == ()
    assert vendor.event_count() == count


def test_remove_frees_the_seats_ends_the_code_and_a_returning_user_is_new(vendor: Vendor) -> None:
    lic, seats = two_seats(vendor, max_transfers=5)
    pending = vendor.new_code(lic, "alice")
    freed = remove_user(vendor.ws, lic.id, "alice", now=at(10))
    assert freed.removed and [s.activation_id for s in freed.seats] == seats
    assert freed.transfers_used == 2 and vendor.open_seats(lic.id) == 0
    assert vendor.event_kinds(lic.id)[-3:] == ["device.reset", "device.reset", "user.removed"]
    assert [r.email for r in license_users(vendor.ws, lic.id, now=at(11))] == ["bob"]
    m3 = vendor.machine("m3")
    m3.import_license(lic)
    refused_unchanged(
        vendor, m3.request(at(11), user="alice", code=pending), "user alice is not assigned"
    )
    # Assigned again: a new user row, and the old code still does not work.
    fresh = vendor.assign(lic, "alice", when=at(12))
    refused_unchanged(vendor, m3.request(at(13), user="alice", code=pending), "is not valid")
    assert m3.activate(when=at(14), user="alice", code=fresh).activation_id
    with pytest.raises(NotFoundError, match="user carol is not assigned"):
        remove_user(vendor.ws, lic.id, "carol", now=at(15))
    assert vendor.ws.ledger.verify_events() == vendor.event_count()


def test_freeing_seats_past_the_transfer_limit_is_refused_unless_forced(vendor: Vendor) -> None:
    lic, _ = two_seats(vendor, max_transfers=1)
    before = vendor.ledger_dump()
    for free in (reset_user, remove_user):
        with pytest.raises(
            RefusedError, match=rf"license {lic.id} has used 1 of 1 transfers; .*--force"
        ):
            free(vendor.ws, lic.id, "alice", now=at(10))
        assert vendor.ledger_dump() == before
    freed = remove_user(vendor.ws, lic.id, "alice", now=at(10), force=True)
    assert freed.transfers_used == 2 and vendor.open_seats(lic.id) == 0


def test_floating_seats_freed_are_not_transfers(vendor: Vendor) -> None:
    lic = vendor.issue("floating", lease=timedelta(hours=1), max_users=2, max_transfers=0)
    seat_for(vendor, lic, "m1", "alice", vendor.assign(lic, "alice"))
    freed = remove_user(vendor.ws, lic.id, "alice", now=at(10))
    (seat,) = freed.seats
    assert not seat.transfer and seat.works_offline_until is not None


def test_a_lapsed_floating_seat_returns_for_its_user_without_a_code_but_not_for_another(
    vendor: Vendor,
) -> None:
    lic = vendor.issue("floating", lease=timedelta(hours=1), max_users=2)
    seat_for(vendor, lic, "m1", "alice", vendor.assign(lic, "alice"))
    bob = vendor.assign(lic, "bob")
    m1 = vendor.machine("m1")
    later = at(2 * 3600)
    assert m1.activate(when=later, user="alice").reused
    even_later = at(4 * 3600)
    before = vendor.ledger_dump()
    with pytest.raises(RefusedError, match="needs user bob's activation code"):
        vendor.activate(m1.request(even_later, user="bob"), even_later)
    assert vendor.ledger_dump() == before
    assert m1.activate(when=even_later, user="bob", code=bob).reused


def test_reassign_gives_the_place_to_another_user_with_a_code(vendor: Vendor) -> None:
    lic = user_license(vendor, max_users=1, max_devices=3, max_transfers=3)
    seat = seat_for(vendor, lic, "m1", "alice", vendor.assign(lic, "alice", max_devices=2))
    done = reassign_user(vendor.ws, lic.id, "alice", "Bob", now=at(10), name="Bob")
    assert [s.activation_id for s in done.removed.seats] == [seat]
    assert done.removed.transfers_used == 1
    new = done.assigned.user
    assert (new.email, new.name, new.max_devices) == ("bob", "Bob", 2)
    assert CODE.match(done.assigned.code)
    assert set(done.to_json()) == {"removed", "assigned"}
    assert seat_for(vendor, lic, "m2", "bob", done.assigned.code)
    assert [r.email for r in license_users(vendor.ws, lic.id, now=at(11))] == ["bob"]
    with pytest.raises(InvalidFieldError, match="to themselves"):
        reassign_user(vendor.ws, lic.id, "bob", "BOB", now=at(12))
    with pytest.raises(NotFoundError, match="user alice is not assigned"):
        reassign_user(vendor.ws, lic.id, "alice", "carol", now=at(12))
    vendor_named = vendor.issue("perpetual", users=["ann", "bea"])
    vendor.assign(vendor_named, "ann")
    vendor.assign(vendor_named, "bea")
    before = vendor.ledger_dump()
    with pytest.raises(AlreadyExistsError, match="user bea is already assigned"):
        reassign_user(vendor.ws, vendor_named.id, "ann", "bea", now=at(13))
    with pytest.raises(RefusedError, match="does not allow user 'cid'"):
        reassign_user(vendor.ws, vendor_named.id, "ann", "cid", now=at(13))
    assert vendor.ledger_dump() == before


# --- ledger verify replays every user and code row ---------------------------------------------


def test_ledger_verify_replays_users_and_codes_from_the_history(vendor: Vendor) -> None:
    from licsign import verify_ledger

    lic = user_license(vendor, max_users=3, max_devices=5, max_transfers=9)
    seat_for(vendor, lic, "m1", "ann", vendor.assign(lic, "ann", name="Ann", max_devices=2))
    vendor.new_code(lic, "ann")
    seat_for(vendor, lic, "m2", "ann", vendor.new_code(lic, "ann"))  # one code replaced
    rename_user(vendor.ws, lic.id, "ann", "Ann Smith", now=at(1))
    change_user_email(vendor.ws, lic.id, "ann", "ann@new.example", now=at(2))
    seat_for(vendor, lic, "m3", "bob", vendor.assign(lic, "bob"))
    vendor.new_code(lic, "bob")
    reset_user(vendor.ws, lic.id, "ann@new.example", now=at(3))
    remove_user(vendor.ws, lic.id, "bob", now=at(4))
    reassign_user(vendor.ws, lic.id, "ann@new.example", "cid", now=at(5))
    result = verify_ledger(vendor.ws)
    assert result.ok, result.problems
    assert result.unknown_kinds == {} and "license_users" not in result.unchecked_tables
    assert result.rows["license_users"] == 3 and result.rows["user_codes"] == 6


# --- the user-code key --------------------------------------------------------------------------


def test_a_desk_without_the_ledgers_code_key_is_told_to_copy_it(vendor: Vendor) -> None:
    lic = user_license(vendor)
    code = vendor.assign(lic, "alice")
    key = Path(vendor.home) / "keys" / "user-codes.key"
    saved = key.read_bytes()
    m1 = vendor.machine("m1")
    m1.import_license(lic)
    request = m1.request(user="alice", code=code)
    key.unlink()  # a desk whose workspace copy predates the key
    before = vendor.ledger_dump()
    copy = (
        r"made with user-code key [0-9a-f]{16}, and this workspace has none .*copy keys/user-codes"
    )
    with pytest.raises(WorkspaceError, match=copy):
        vendor.activate(request)
    with pytest.raises(WorkspaceError, match=copy):
        vendor.new_code(lic, "alice")  # it makes no key of its own
    assert not key.exists()
    key.write_bytes(b"licsign user-code key v1\n" + b"ab" * 32 + b"\n")  # another desk's key
    with pytest.raises(WorkspaceError, match=r"and this workspace has key [0-9a-f]{16} "):
        vendor.new_code(lic, "alice")
    with pytest.raises(WorkspaceError, match=r"and this workspace has key [0-9a-f]{16} "):
        vendor.activate(request)
    assert vendor.ledger_dump() == before
    key.write_bytes(saved)
    key.chmod(0o644)  # loosened by a careless copy: tightened when read
    assert vendor.activate(request).activation_id
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    key.write_bytes(b"not a key\n")
    with pytest.raises(WorkspaceError, match=r"user-code key .* is damaged"):
        vendor.new_code(lic, "alice")


# --- concurrency: eight processes at once -------------------------------------------------------

RACERS = 8


def _redeem(ws: Workspace, request: bytes, now: Any) -> str:
    return activate(ws, request, lambda: PW, now=now).activation_id


def _assign(ws: Workspace, job: tuple[str, str], now: Any) -> str:
    return assign_user(ws, job[0], job[1], now=now).code


def _racer(index: int, where: tuple[str, str | None], job: Any, act: Any, now: Any, barrier: Any,
           results: Any) -> None:  # fmt: skip
    """Child process: open its own workspace, wait for the others, then ``act`` once."""
    try:
        ws = Workspace(*where)
        try:
            assert ws.ledger is not None
            barrier.wait(60)
            results.put((index, "done", act(ws, job, now)))
        finally:
            ws.close()
    except RefusedError as exc:
        results.put((index, "refused", str(exc)))
    except BaseException as exc:  # noqa: BLE001 - any other outcome is the failure looked for
        results.put((index, "error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def race(vendor: Vendor, jobs: list[Any], act: Any) -> tuple[list[str], list[str]]:
    """Fork one process per job, release them together; what was done and what was refused."""
    vendor.close()  # no connection may cross the fork
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(len(jobs)), ctx.Queue()
    where = (vendor.home, vendor.ledger_url)
    processes = [
        ctx.Process(target=_racer, args=(i, where, job, act, vendor.now, barrier, results), daemon=True)
        for i, job in enumerate(jobs)
    ]  # fmt: skip
    for p in processes:
        p.start()
    outcomes = [results.get(timeout=90) for _ in processes]
    for p in processes:
        p.join(90)
    assert [p.exitcode for p in processes] == [0] * len(jobs)
    errors = [detail for _, kind, detail in outcomes if kind == "error"]
    assert errors == [], "\n".join(errors)
    done = [detail for _, kind, detail in outcomes if kind == "done"]
    return done, [detail for _, kind, detail in outcomes if kind == "refused"]


def test_eight_processes_redeeming_one_code_take_exactly_one_seat(vendor: Vendor) -> None:
    lic = user_license(vendor, max_users=1, max_devices=RACERS)
    code = vendor.assign(lic, "alice")
    requests = []
    for i in range(RACERS):
        m = vendor.machine(f"racer-{i}")
        m.import_license(lic)
        requests.append(m.request(user="alice", code=code))
    granted, refused = race(vendor, requests, _redeem)
    assert len(granted) == 1 and len(refused) == RACERS - 1
    assert all("was already used" in line and granted[0] in line for line in refused), refused
    assert [a["id"] for a in vendor.open_activations(lic.id)] == granted
    (row,) = vendor.ledger_dump()["user_codes"]
    assert (row["end_reason"], row["activation_id"]) == ("used", granted[0])
    assert vendor.event_count("user.code_used") == 1


def test_eight_processes_assigning_users_never_pass_max_users_and_share_one_key(
    vendor: Vendor,
) -> None:
    lic = user_license(vendor, max_users=3)
    key = Path(vendor.home) / "keys" / "user-codes.key"
    assert not key.exists()  # every racer may try to make it
    codes, refused = race(
        vendor, [(lic.id, f"user{i}@example.com") for i in range(RACERS)], _assign
    )
    assert len(codes) == 3 and len(set(codes)) == 3 and len(refused) == RACERS - 3
    assert all(f"license {lic.id} has 3 of 3 users" in line for line in refused), refused
    rows = vendor.ledger_dump()
    assert len(rows["license_users"]) == 3 and len(rows["user_codes"]) == 3
    assert len({r["key_id"] for r in rows["user_codes"]}) == 1 and key.exists()
    assert [p.name for p in key.parent.iterdir() if "user-codes" in p.name] == ["user-codes.key"]


# --- the command line ---------------------------------------------------------------------------


def _code(out: str) -> str:
    found = re.search(r"^Activation code: (\S+)$", out, re.M)
    assert found, out
    return found.group(1)


def _activate(site: Site, machine: str, lic: str, *request: str) -> Any:
    """``machine`` imports ``lic`` and requests with ``request``; the vendor answers: its run."""
    m = site.machine(machine)
    m.ok("import", str(site.tmp / lic))
    path = m.path("request.txt")
    m.ok("request", "-o", str(path), "--force", *request)
    response = m.path("response.txt")
    result = site.licsign("activate", str(path), "-o", str(response), "--force")
    if result.code == 0:
        m.ok("install", str(response))
    return result


def test_cli_user_lifecycle(site: Site) -> None:
    lic = site.issue("u.lic", "--max-users", "2", "--max-devices", "4", "--max-transfers", "5")
    out = site.vendor_ok(
        "user", "assign", lic, "Alice@Example.com", "--name", "Alice", "--max-devices", "2"
    ).out
    code = _code(out)
    assert CODE.match(code) and out.startswith(
        f"Assigned alice@example.com to license {lic} (at most 2 devices)\n"
    )
    assert f"licverify request --user alice@example.com --code {code}" in out
    assert _activate(site, "a", "u.lic", "--user", "alice@example.com", "--code", code).code == 0
    # The same code again, on another machine: one line, nothing recorded.
    ledger = site.ledger()
    line = error_line(
        _activate(site, "b", "u.lic", "--user", "alice@example.com", "--code", code), "licsign", 1
    )
    assert "was already used" in line and site.ledger() == ledger
    fresh = json.loads(site.vendor_ok("user", "new-code", lic, "alice@example.com", "--json").out)
    assert CODE.match(fresh["code"]) and fresh["replaced"] is False
    again = _activate(site, "b", "u.lic", "--user", "alice@example.com", "--code", fresh["code"])
    assert again.code == 0
    listed = json.loads(site.vendor_ok("user", "list", lic, "--json").out)
    assert [(u["email"], u["seats"], u["code"]) for u in listed] == [
        ("alice@example.com", 2, "used")
    ]
    table = site.vendor_ok("user", "list", lic).out.splitlines()
    assert table[0].split()[:3] == ["EMAIL", "NAME", "MAX"] and table[1].split()[:5] == [
        "alice@example.com", "Alice", "2", "2", "used"]  # fmt: skip
    renamed = site.vendor_ok("user", "rename", lic, "alice@example.com", "Alice Smith").out
    assert "is now named Alice Smith" in renamed
    moved = site.vendor_ok(
        "user", "change-email", lic, "alice@example.com", "alice@new.example"
    ).out
    assert "is now alice@new.example (2 seats kept)" in moved
    reset = site.vendor_ok("user", "reset", lic, "alice@new.example").out
    assert reset.startswith(
        "Reset alice@new.example; freed 2 seat(s) of alice@new.example on license"
    )
    assert "transfers used: 2" in reset and "keeps working offline" in reset
    reassign = ("user", "reassign", lic, "alice@new.example", "bob@example.com", "--json")
    done = json.loads(site.vendor_ok(*reassign).out)
    assert done["removed"]["seats"] == [] and CODE.match(done["assigned"]["activation_code"])
    removed = site.vendor_ok("user", "remove", lic, "bob@example.com").out
    held = f"bob@example.com held no seat on license {lic}."
    assert removed == f"Removed bob@example.com from license {lic}; {held}\n"
    assert site.vendor_ok("user", "list", lic).err.startswith(f"License {lic} has no users")
    every = json.loads(site.vendor_ok("user", "list", lic, "--all", "--json").out)
    assert [u["email"] for u in every] == ["alice@new.example", "bob@example.com"]


def test_cli_refusals_are_one_line(site: Site) -> None:
    plain = site.issue("p.lic", "--max-devices", "2")
    line = error_line(site.licsign("user", "assign", plain, "ann@example.com"), "licsign", 1)
    assert f"license {plain} is not user-based" in line
    lic = site.issue("u.lic", "--max-users", "1")
    site.vendor_ok("user", "assign", lic, "ann@example.com")
    line = error_line(site.licsign("user", "assign", lic, "bob@example.com"), "licsign", 1)
    assert f"license {lic} has 1 of 1 users: ann@example.com" in line
    line = error_line(site.licsign("user", "new-code", lic, "bob@example.com"), "licsign", 1)
    assert (
        f"user bob@example.com is not assigned to license {lic} (assigned: ann@example.com)" in line
    )
    assert "EMAIL" in usage_line(
        site.licsign("user", "assign", lic, "bad\u200bname@example.com"), "licsign"
    )
    assert "--max-devices" in usage_line(
        site.licsign("user", "assign", lic, "c@example.com", "--max-devices", "0"), "licsign"
    )
    line = error_line(_activate(site, "a", "u.lic", "--user", "ann@example.com"), "licsign", 1)
    assert "needs user ann@example.com's activation code" in line


def test_every_user_command_has_json(site: Site) -> None:
    from licsign.cli.users import user

    assert {name for name, command in user.commands.items()
            if not any(p.name == "as_json" for p in command.params)} == set()  # fmt: skip


def test_a_users_device_cap_can_be_set_later(vendor: Vendor) -> None:
    """``set_user_max_devices``: within the per-user cap and the device total with the other
    users' caps, never below the seats held; recorded, and ``ledger verify`` replays it."""
    from licsign import RefusedError, set_user_max_devices, verify_ledger

    lic = vendor.issue("perpetual", max_users=3, max_devices=4, max_devices_per_user=3)
    ann_code = vendor.assign(lic, "ann@example.com")
    vendor.assign(lic, "bob@example.com", max_devices=2)
    vendor.machine("a1").activate(lic, user="ann@example.com", code=ann_code)
    vendor.machine("a2").activate(lic, user="ann@example.com",
                                  code=vendor.new_code(lic, "ann@example.com"))  # fmt: skip
    done = set_user_max_devices(vendor.ws, lic.id, "ann@example.com", 2, now=vendor.now)
    assert (done.email, done.max_devices, done.seats) == ("ann@example.com", 2, 2)
    for cap, message in ((4, "3 devices per user"), (3, "would total 5"), (1, "holds 2 seats")):
        with pytest.raises(RefusedError, match=message):
            set_user_max_devices(vendor.ws, lic.id, "ann@example.com", cap, now=vendor.now)
    assert set_user_max_devices(vendor.ws, lic.id, "bob@example.com", None,
                                now=vendor.now).max_devices is None  # fmt: skip
    assert "user.cap_changed" in vendor.event_kinds(lic.id)
    assert verify_ledger(vendor.ws).ok


def test_cli_set_max_devices(site: Site) -> None:
    lic = site.issue("u.lic", "--max-users", "2", "--max-devices", "3")
    site.vendor_ok("user", "assign", lic, "ann@example.com")
    done = json.loads(site.vendor_ok("user", "set-max-devices", lic, "ann@example.com", "2",
                                     "--json").out)  # fmt: skip
    assert done["max_devices"] == 2
    assert "no cap of their own" in site.vendor_ok("user", "set-max-devices", lic,
                                                   "ann@example.com", "none").out  # fmt: skip
    bad = site.licsign("user", "set-max-devices", lic, "ann@example.com", "lots")
    assert bad.code == 2 and "Traceback" not in bad.err
