"""License shares (issue 8, "Move, share, renew"), on both ledger engines.

``licsign share LICENSE --with EMAIL`` lets another user use a license: the
sharer's machine asks with ``--user EMAIL --code CODE`` (a one-time code made by
``share``, as ``user assign`` makes one). One device at a time across all
sharers, enforced in the activation's unit of work: while a sharer holds a
seat, every other sharer's new seat is refused naming the holder, however
many processes race for it. The owner's users keep the license's own limits.
``unshare`` frees the sharer's seats, counted as ``user reset`` counts them.
"""

from __future__ import annotations

import json
import multiprocessing
import re
import traceback
from datetime import datetime, timedelta
from typing import Any

import pytest
from harness import PW, Site, Vendor, at, error_line, usage_line

from licsign import (
    AlreadyExistsError,
    InvalidFieldError,
    IssuedLicense,
    NotFoundError,
    RefusedError,
    Workspace,
    activate,
    deactivate,
    license_shares,
    share_license,
    unshare_license,
    verify_ledger,
)

CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def shared(vendor: Vendor, lic: IssuedLicense, email: str) -> str:
    """Share ``lic`` with ``email``; the sharer's one-time code."""
    return share_license(vendor.ws, lic.id, email, now=vendor.now).code


def refused_unchanged(
    vendor: Vendor, request: bytes, match: str, when: datetime | None = None
) -> str:
    """The vendor refuses ``request`` (at ``when``) in one line matching ``match``; the ledger
    is unchanged."""
    before = vendor.ledger_dump()
    with pytest.raises(RefusedError, match=match) as info:
        vendor.activate(request, when)
    assert vendor.ledger_dump() == before
    assert "\n" not in str(info.value)
    return str(info.value)


def request_from(vendor: Vendor, lic: IssuedLicense, machine: str, **fields: Any) -> bytes:
    m = vendor.machine(machine)
    m.import_license(lic)
    return m.request(**fields)


def _t(seconds: int) -> int:
    """``at(seconds)`` as the ledger records times (NumericDate)."""
    return int(at(seconds).timestamp())


# --- sharing ------------------------------------------------------------------------------------


def test_share_makes_a_code_the_ledger_keeps_only_as_a_keyed_hash(vendor: Vendor) -> None:
    lic = vendor.issue("perpetual", max_devices=3)
    done = share_license(vendor.ws, lic.id, "  Ann@Example.COM ", now=vendor.now)
    assert CODE.match(done.code) and done.replaced is False
    assert (done.share.email, done.share.seats, done.share.code) == ("ann@example.com", 0, "unused")
    assert done.to_json()["activation_code"] == done.code and done.to_json()["code"] == "unused"
    (row,) = vendor.ledger_dump()["license_shares"]
    assert row["email"] == "ann@example.com" and len(bytes(row["code_hash"])) == 32
    dump = json.dumps(vendor.ledger_dump(), default=lambda b: bytes(b).hex())
    assert done.code not in dump and done.code.replace("-", "") not in dump
    assert vendor.event_kinds(lic.id)[-1] == "share.added"
    listed = license_shares(vendor.ws, lic.id, now=vendor.now)
    assert [s.to_json()["email"] for s in listed] == ["ann@example.com"]


def test_share_refusals(vendor: Vendor) -> None:
    lic = vendor.issue("perpetual", max_devices=3)
    shared(vendor, lic, "ann@example.com")
    before = vendor.ledger_dump()
    with pytest.raises(
        AlreadyExistsError, match=r"already shared with ann@example.com .*--new-code"
    ):
        share_license(vendor.ws, lic.id, "ANN@example.com", now=vendor.now)
    with pytest.raises(NotFoundError, match=r"unknown license|L-NOPE"):
        share_license(vendor.ws, "L-NOPE", "bob@example.com", now=vendor.now)
    with pytest.raises(NotFoundError, match=r"is not shared with bob@example.com .*ann@example"):
        share_license(vendor.ws, lic.id, "bob@example.com", now=vendor.now, new_code_only=True)
    with pytest.raises(NotFoundError, match=r"is not shared with bob@example.com"):
        unshare_license(vendor.ws, lic.id, "bob@example.com", now=vendor.now)
    with pytest.raises(InvalidFieldError):
        share_license(vendor.ws, lic.id, "bad\u200bname@example.com", now=vendor.now)
    users = vendor.issue("perpetual", max_users=2)
    vendor.assign(users, "cid@example.com")
    before = vendor.ledger_dump()
    with pytest.raises(RefusedError, match=r"cid@example.com is already a user of license"):
        share_license(vendor.ws, users.id, "cid@example.com", now=vendor.now)
    assert vendor.ledger_dump() == before
    # ...and the other way round: a sharer is not made a user behind the share's back.
    shared(vendor, users, "dee@example.com")
    before = vendor.ledger_dump()
    with pytest.raises(RefusedError, match=r"is shared with dee@example.com; unshare it first"):
        vendor.assign(users, "dee@example.com")
    assert vendor.ledger_dump() == before


# --- activating as a sharer ---------------------------------------------------------------------


def test_a_sharer_takes_a_seat_with_the_code_once_and_renews_without(vendor: Vendor) -> None:
    lic = vendor.issue("perpetual", max_devices=5)
    code = shared(vendor, lic, "ann@example.com")
    refused_unchanged(
        vendor,
        request_from(vendor, lic, "m0", user="ann@example.com"),
        r"needs their activation code",
    )
    refused_unchanged(
        vendor,
        request_from(vendor, lic, "m0", user="ann@example.com", code="0000-0000-0000"),
        r"activation code for sharer ann@example.com .* is not valid",
    )
    m1 = vendor.machine("m1")
    granted = m1.activate(lic, user="ann@example.com", code=code.lower().replace("-", ""))
    assert not granted.reused
    again = vendor.activate(m1.request(user="ann@example.com"), vendor.now + timedelta(hours=1))
    assert again.reused and again.activation_id == granted.activation_id
    (row,) = vendor.ledger_dump()["license_shares"]
    assert (row["code_activation"], row["code_used_at"] is not None) == (
        granted.activation_id,
        True,
    )
    assert license_shares(vendor.ws, lic.id, now=vendor.now)[0].code == "used"


def test_the_ledger_marks_a_share_code_used_once_and_says_so(vendor: Vendor) -> None:
    lic = vendor.issue("perpetual", max_devices=5)
    shared(vendor, lic, "ann@example.com")
    ledger = vendor.ws.ledger
    share = ledger.license_share(lic.id, "ann@example.com")
    assert share is not None
    with ledger.transaction():
        assert ledger.use_share_code(_t(5), share, "A-FIRST") is True
        assert ledger.use_share_code(_t(6), share, "A-SECOND") is False
    # A share read before its code was replaced marks nothing: the code it names is gone.
    share_license(vendor.ws, lic.id, "ann@example.com", now=at(7), new_code_only=True)
    stale = ledger.license_share(lic.id, "ann@example.com")
    share_license(vendor.ws, lic.id, "ann@example.com", now=at(8), new_code_only=True)
    assert stale is not None
    with ledger.transaction():
        assert ledger.use_share_code(_t(9), stale, "A-STALE") is False
    (row,) = vendor.ledger_dump()["license_shares"]
    assert row["code_used_at"] is None and row["code_activation"] is None
    assert vendor.event_count("share.code_used") == 1
    assert vendor.ws.ledger.verify_events() == vendor.event_count()


def test_a_share_code_used_between_its_check_and_its_seat_refuses_and_rolls_back(
    vendor: Vendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    lic = vendor.issue("perpetual", max_devices=5)
    code = shared(vendor, lic, "ann@example.com")
    request = request_from(vendor, lic, "m1", user="ann@example.com", code=code)
    ledger_type = type(vendor.ws.ledger)
    add_activation = ledger_type.add_activation
    sneaked: list[bool] = []

    def used_meanwhile(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not sneaked:  # once: another writer uses the code after it was checked
            sneaked.append(True)
            share = self.license_share(lic.id, "ann@example.com")
            assert self.use_share_code(_t(1), share, "A-OTHER")
        return add_activation(self, *args, **kwargs)

    monkeypatch.setattr(ledger_type, "add_activation", used_meanwhile)
    line = refused_unchanged(vendor, request, "was already used")
    assert f"the activation code for sharer ann@example.com on license {lic.id}" in line
    assert f"'licsign share {lic.id} --with ann@example.com --new-code'" in line
    # The whole unit rolled back: the code is still unused and takes the seat.
    assert vendor.activate(request).activation_id
    assert vendor.open_seats(lic.id) == 1


def test_one_sharer_device_at_a_time_naming_who_holds_it(vendor: Vendor) -> None:
    lic = vendor.issue("perpetual", max_devices=5)
    ann, bob = shared(vendor, lic, "ann@example.com"), shared(vendor, lic, "bob@example.com")
    m1 = vendor.machine("m1")
    held = m1.activate(lic, user="ann@example.com", code=ann).activation_id
    line = refused_unchanged(
        vendor, request_from(vendor, lic, "m2", user="bob@example.com", code=bob),
        r"shared seat is held by ann@example.com on host-m1",
    )  # fmt: skip
    assert held in line and f"licsign unshare {lic.id} --with ann@example.com" in line
    # Ann's second device too: one device across all sharers.
    more = share_license(vendor.ws, lic.id, "ann@example.com", now=vendor.now, new_code_only=True)
    refused_unchanged(
        vendor, request_from(vendor, lic, "m3", user="ann@example.com", code=more.code),
        r"shared seat is held by ann@example.com",
    )  # fmt: skip
    # The owner's own machines are governed by the license's limits alone.
    assert vendor.machine("own1").activate(lic).activation_id
    assert vendor.machine("own2").activate(lic, user="owner@example.com").activation_id
    # Ann gives her seat back: Bob may take it.
    deactivate(vendor.ws, m1.deactivate(), now=vendor.now)
    assert vendor.machine("m2").activate(lic, user="bob@example.com", code=bob).activation_id


def test_a_lapsed_sharer_lease_frees_the_shared_seat_and_returns_only_when_free(
    vendor: Vendor,
) -> None:
    lic = vendor.issue("floating", lease=timedelta(hours=1), max_devices=5)
    ann, bob = shared(vendor, lic, "ann@example.com"), shared(vendor, lic, "bob@example.com")
    m1 = vendor.machine("m1")
    m1.activate(lic, user="ann@example.com", code=ann)
    later = at(2 * 3600)  # Ann's lease lapsed: the shared seat is free
    vendor.machine("m2").activate(lic, when=later, user="bob@example.com", code=bob)
    # Ann's machine comes back (no code needed for its own lapsed seat), but Bob holds it now.
    refused_unchanged(
        vendor, m1.request(later, user="ann@example.com"), r"shared seat is held by bob@example.com",
        later,
    )  # fmt: skip


def test_a_sharer_seat_counts_toward_devices_not_users(vendor: Vendor) -> None:
    lic = vendor.issue("perpetual", max_users=1, max_devices=2, users=["alice@example.com"])
    vendor.machine("a").activate(
        lic, user="alice@example.com", code=vendor.assign(lic, "alice@example.com")
    )
    code = shared(vendor, lic, "bob@example.com")  # not an allowed user, not counted as one
    assert vendor.machine("b").activate(lic, user="bob@example.com", code=code).activation_id
    assert vendor.open_seats(lic.id) == 2
    other = vendor.issue("perpetual", max_devices=1)
    vendor.machine("o1").activate(other)
    code = shared(vendor, other, "cid@example.com")
    refused_unchanged(
        vendor, request_from(vendor, other, "o2", user="cid@example.com", code=code),
        rf"license {other.id} is activated on 1 of 1 devices",
    )  # fmt: skip


def test_unshare_frees_the_seats_counted_and_recorded(vendor: Vendor) -> None:
    lic = vendor.issue("perpetual", max_devices=5, max_transfers=3)
    ann = shared(vendor, lic, "ann@example.com")
    held = vendor.machine("m1").activate(lic, user="ann@example.com", code=ann).activation_id
    done = unshare_license(vendor.ws, lic.id, "Ann@example.com", now=at(10))
    assert [s.activation_id for s in done.seats] == [held] and done.seats[0].transfers_used == 1
    assert done.to_json()["seats"][0]["activation"] == held
    assert vendor.open_seats(lic.id) == 0
    assert vendor.event_kinds(lic.id)[-2:] == ["device.reset", "share.removed"]
    assert license_shares(vendor.ws, lic.id, now=vendor.now) == []
    (gone,) = license_shares(vendor.ws, lic.id, now=vendor.now, removed=True)
    assert gone.removed_at is not None
    # Her old code no longer works, nor does she take a seat as anyone's user.
    refused_unchanged(
        vendor, request_from(vendor, lic, "m2", user="ann@example.com", code=ann),
        rf"license {lic.id} is no longer shared with ann@example.com",
    )  # fmt: skip
    # Shared again: a new share, a new code; the shared seat is free for her.
    again = shared(vendor, lic, "ann@example.com")
    assert vendor.machine("m2").activate(lic, user="ann@example.com", code=again).activation_id


def test_unshare_past_the_transfer_limit_is_refused_unless_forced(vendor: Vendor) -> None:
    lic = vendor.issue("perpetual", max_devices=5, max_transfers=0)
    ann = shared(vendor, lic, "ann@example.com")
    vendor.machine("m1").activate(lic, user="ann@example.com", code=ann)
    before = vendor.ledger_dump()
    with pytest.raises(RefusedError, match=r"used 0 of 0 transfers"):
        unshare_license(vendor.ws, lic.id, "ann@example.com", now=vendor.now)
    assert vendor.ledger_dump() == before
    assert (
        len(unshare_license(vendor.ws, lic.id, "ann@example.com", now=vendor.now, force=True).seats)
        == 1
    )


def test_new_code_replaces_the_unused_one(vendor: Vendor) -> None:
    lic = vendor.issue("perpetual", max_devices=5)
    old = shared(vendor, lic, "ann@example.com")
    new = share_license(vendor.ws, lic.id, "ann@example.com", now=vendor.now, new_code_only=True)
    assert new.replaced and new.code != old
    refused_unchanged(
        vendor, request_from(vendor, lic, "m1", user="ann@example.com", code=old), r"is not valid"
    )
    assert vendor.machine("m1").activate(lic, user="ann@example.com", code=new.code).activation_id


def test_ledger_verify_replays_shares_from_the_history(vendor: Vendor) -> None:
    lic = vendor.issue("perpetual", max_devices=5, max_transfers=9)
    ann, bob = shared(vendor, lic, "ann@example.com"), shared(vendor, lic, "bob@example.com")
    m1 = vendor.machine("m1")
    m1.activate(lic, user="ann@example.com", code=ann)
    deactivate(vendor.ws, m1.deactivate(), now=at(1))
    vendor.machine("m2").activate(lic, user="bob@example.com", code=bob)
    share_license(vendor.ws, lic.id, "ann@example.com", now=at(2), new_code_only=True)
    unshare_license(vendor.ws, lic.id, "bob@example.com", now=at(3))
    shared(vendor, lic, "bob@example.com")
    result = verify_ledger(vendor.ws)
    assert result.ok, result.problems
    assert "license_shares" not in result.unchecked_tables and result.rows["license_shares"] == 3
    assert not {k for k in result.unknown_kinds if k.startswith("share.")}


# --- concurrency --------------------------------------------------------------------------------

RACERS = 6


def _racer(index: int, where: tuple[str, str | None], request: bytes, now: Any, barrier: Any,
           results: Any) -> None:  # fmt: skip
    try:
        ws = Workspace(*where)
        try:
            assert ws.ledger is not None
            barrier.wait(60)
            results.put((index, "done", activate(ws, request, lambda: PW, now=now).activation_id))
        finally:
            ws.close()
    except RefusedError as exc:
        results.put((index, "refused", str(exc)))
    except BaseException as exc:  # noqa: BLE001 - any other outcome is the failure looked for
        results.put((index, "error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def test_six_sharers_racing_for_the_shared_seat_get_exactly_one(vendor: Vendor) -> None:
    lic = vendor.issue("perpetual", max_devices=RACERS + 2)
    requests = [
        request_from(vendor, lic, f"racer-{i}", user=f"s{i}@example.com",
                     code=shared(vendor, lic, f"s{i}@example.com"))
        for i in range(RACERS)
    ]  # fmt: skip
    vendor.close()  # no connection may cross the fork
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(RACERS), ctx.Queue()
    where = (vendor.home, vendor.ledger_url)
    processes = [
        ctx.Process(target=_racer, args=(i, where, r, vendor.now, barrier, results), daemon=True)
        for i, r in enumerate(requests)
    ]
    for p in processes:
        p.start()
    outcomes = [results.get(timeout=90) for _ in processes]
    for p in processes:
        p.join(90)
    assert [p.exitcode for p in processes] == [0] * RACERS
    assert [d for _, kind, d in outcomes if kind == "error"] == []
    granted = [d for _, kind, d in outcomes if kind == "done"]
    refused = [d for _, kind, d in outcomes if kind == "refused"]
    assert len(granted) == 1 and len(refused) == RACERS - 1
    (seat,) = vendor.open_activations(lic.id)
    assert seat["id"] == granted[0]
    assert all(f"shared seat is held by {seat['user']}" in line for line in refused), refused
    assert vendor.event_count("share.code_used") == 1


# --- the command line ---------------------------------------------------------------------------


def _activate(site: Site, machine: str, lic: str, *request: str) -> Any:
    m = site.machine(machine)
    m.ok("import", str(site.tmp / lic))
    path = m.path("request.txt")
    m.ok("request", "-o", str(path), "--force", *request)
    response = m.path("response.txt")
    result = site.licsign("activate", str(path), "-o", str(response), "--force")
    if result.code == 0:
        m.ok("install", str(response))
    return result


def test_cli_share_lifecycle(site: Site) -> None:
    lic = site.issue("s.lic", "--max-devices", "4")
    out = site.vendor_ok("share", lic, "--with", "Ann@Example.com").out
    assert out.startswith(f"Shared license {lic} with ann@example.com\n")
    code = re.search(r"^Activation code: (\S+)$", out, re.M)
    assert code and CODE.match(code.group(1))
    assert f"licverify request --user ann@example.com --code {code.group(1)}" in out
    bob = json.loads(site.vendor_ok("share", lic, "--with", "bob@example.com", "--json").out)
    assert bob["email"] == "bob@example.com" and CODE.match(bob["activation_code"])
    assert (
        _activate(site, "a", "s.lic", "--user", "ann@example.com", "--code", code.group(1)).code
        == 0
    )
    ledger = site.ledger()
    line = error_line(
        _activate(site, "b", "s.lic", "--user", "bob@example.com", "--code", bob["activation_code"]),
        "licsign", 1,
    )  # fmt: skip
    assert "shared seat is held by ann@example.com" in line and site.ledger() == ledger
    listed = json.loads(site.vendor_ok("shares", lic, "--json").out)
    assert [(s["email"], s["seats"], s["code"]) for s in listed] == [
        ("ann@example.com", 1, "used"), ("bob@example.com", 0, "unused")]  # fmt: skip
    table = site.vendor_ok("shares", lic).out.splitlines()
    assert table[0].split()[:3] == ["EMAIL", "SEATS", "CODE"]
    gone = json.loads(site.vendor_ok("unshare", lic, "--with", "ann@example.com", "--json").out)
    assert len(gone["seats"]) == 1 and gone["email"] == "ann@example.com"
    out = site.vendor_ok("unshare", lic, "--with", "bob@example.com").out
    assert out == f"License {lic} is no longer shared with bob@example.com; they held no seat.\n"
    assert "is not shared" in site.vendor_ok("shares", lic).err
    every = json.loads(site.vendor_ok("shares", lic, "--all", "--json").out)
    assert [s["email"] for s in every] == ["ann@example.com", "bob@example.com"]
    new = json.loads(site.vendor_ok("share", lic, "--with", "ann@example.com", "--json").out)
    again = site.vendor_ok("share", lic, "--with", "ann@example.com", "--new-code", "--json").out
    assert (
        json.loads(again)["replaced"] is True
        and new["activation_code"] != json.loads(again)["activation_code"]
    )


def test_cli_refusals_are_one_line(site: Site) -> None:
    lic = site.issue("s.lic", "--max-devices", "4")
    site.vendor_ok("share", lic, "--with", "ann@example.com")
    line = error_line(site.licsign("share", lic, "--with", "ann@example.com"), "licsign", 1)
    assert f"license {lic} is already shared with ann@example.com" in line
    line = error_line(site.licsign("unshare", lic, "--with", "bob@example.com"), "licsign", 1)
    assert f"license {lic} is not shared with bob@example.com" in line
    assert "--with" in usage_line(
        site.licsign("share", lic, "--with", "bad\u200bname@example.com"), "licsign"
    )
    line = error_line(_activate(site, "a", "s.lic", "--user", "ann@example.com"), "licsign", 1)
    assert "needs their activation code" in line
