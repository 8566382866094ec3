"""Many licenses at once (``licsign issue --from-csv``) and many activation requests at once.

Issue 8, "The ledger": a CSV batch is all or nothing, names a bad row by its
line and column, opens the key once, and cannot give two licenses one id;
a batch of activation requests opens the key once and answers each request
on its own. Every test here runs on both ledger engines (``vendor``, ``site``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness import (
    CUSTOMER,
    NOW,
    OTHER_PRODUCT,
    PRODUCT,
    PW,
    Site,
    Vendor,
    error_line_after_progress,
)

import licsign
import licverify
from licsign import (
    BatchExportError,
    CsvError,
    IssuedBatch,
    IssueRequest,
    WrongPassphraseError,
    activate_many,
    issue_from_csv,
    issue_many,
)
from licsign._services import bulk
from licverify.format import dearmor

ROOT = Path(__file__).resolve().parent.parent


class Passphrase:
    """A passphrase source that counts how often it is asked (once per key opened)."""

    def __init__(self, value: bytes = PW) -> None:
        self.value, self.calls = value, 0

    def __call__(self) -> bytes:
        self.calls += 1
        return self.value


def rows(*lines: str, header: str = "product,customer,type,duration") -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode()


def simple(count: int, product: str = PRODUCT) -> bytes:
    return rows(*[f"{product},{CUSTOMER},subscription,1y"] * count)


def manifest(batch: IssuedBatch) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(Path(batch.manifest).read_text())))


# --- the happy path --------------------------------------------------------------------------------


def test_a_csv_batch_records_every_license_and_writes_its_file_and_the_manifest(
    vendor: Vendor, tmp_path: Path
) -> None:
    source = Passphrase()
    seen: list[tuple[int, int]] = []
    data = simple(3) + f"{OTHER_PRODUCT},{CUSTOMER},perpetual,\n".encode()
    batch = issue_from_csv(
        vendor.ws, data, str(tmp_path / "out"), source, now=NOW,
        progress=lambda done, total: seen.append((done, total)),
    )  # fmt: skip
    assert [b.line for b in batch.licenses] == [2, 3, 4, 5]
    ids = [b.license.id for b in batch.licenses]
    assert len(set(ids)) == 4
    assert source.calls == 1  # two products, one issuing key: opened once
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    assert sorted(os.listdir(tmp_path / "out")) == sorted(
        [*(f"{i}.lic" for i in ids), "manifest.csv"]
    )
    listed = manifest(batch)
    assert [r["license"] for r in listed] == ids and [r["line"] for r in listed] == [
        "2",
        "3",
        "4",
        "5",
    ]
    for row, entry in zip(listed, batch.licenses, strict=True):
        data = (tmp_path / "out" / row["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"]
        assert data == entry.license.armored
        lic = licverify.verify_license(
            data, trusted_roots=vendor.roots, product=row["product"], now=NOW
        )
        assert lic.id == row["license"] and lic.customer == CUSTOMER
        assert vendor.event_kinds(lic.id) == ["license.issued"]
        assert vendor.license_record(lic.id)["document"] == entry.license.document
    assert batch.to_json()["count"] == 4


def test_issue_many_is_one_unit_of_work_with_one_event_per_license(vendor: Vendor) -> None:
    before = vendor.event_count()
    requests = [IssueRequest(PRODUCT, CUSTOMER, "perpetual") for _ in range(7)]
    issued = issue_many(vendor.ws, requests, Passphrase(), now=NOW)
    events = vendor.events()[before:]
    assert [e["kind"] for e in events] == ["license.issued"] * 7
    assert [e["subject"] for e in events] == [lic.id for lic in issued]
    vendor.ws.ledger.verify_events()  # the chain holds across the batch
    assert issue_many(vendor.ws, [], Passphrase(), now=NOW) == []


def test_every_csv_column_gives_the_terms_licsign_issue_gives(site: Site) -> None:
    site.vendor_ok("product", "add", "acme-suite", "--feature", "export", "--feature", "tier",
                   "--feature", "seats")  # fmt: skip
    site.vendor_ok("order", "add", "PO-7", "--customer", CUSTOMER)
    device = licverify.format_fingerprint(
        licverify.machine_fingerprint("acme-suite", machine_id="bound-machine")
    )
    header = ("product,customer,type,expires,duration,not_before,grace,features,max_version,"
              "maintenance_end,max_devices,max_users,max_devices_per_user,max_transfers,users,"
              "devices,device_match,require_activation,counters,lease,refresh,meta,order,"
              "at_expiry,expires_after_activation")  # fmt: skip
    lines = [
        "acme-suite,globex,subscription,,1y,2026-01-01,14d,export;tier=pro;seats=5,2.9,"
        "2027-06-30,3,2,1,4,Alice@Example.com; bob@example.com,,most,true,pages=1000+50,,90d,"
        "crm=42;note=vip,PO-7,maintain,",
        f"acme-suite,globex,floating,2030-01-01T12:00Z,,2026-02-01,,,,,5,,,,,{device},,,,30min,,,,,",
        f"acme-suite,globex,perpetual,,,2026-03-01,,export,,,,,,,,{device},2,no,,,,,,,",
        "acme-suite,globex,trial,,,2026-04-01" + "," * 19 + "30d",
    ]
    options = [
        ["--type", "subscription", "--duration", "1y", "--not-before", "2026-01-01",
         "--grace", "14d", "--feature", "export", "--feature", "tier=pro", "--feature", "seats=5",
         "--max-version", "2.9", "--maintenance-end", "2027-06-30", "--max-devices", "3",
         "--max-users", "2", "--max-devices-per-user", "1", "--max-transfers", "4",
         "--user", "Alice@Example.com", "--user", "bob@example.com", "--device-match", "most",
         "--require-activation", "--counter", "pages=1000+50", "--refresh", "90d",
         "--meta", "crm=42", "--meta", "note=vip", "--order", "PO-7", "--at-expiry", "maintain"],
        ["--type", "floating", "--expires", "2030-01-01T12:00Z", "--not-before", "2026-02-01",
         "--max-devices", "5", "--device", device, "--lease", "30min"],
        ["--type", "perpetual", "--not-before", "2026-03-01", "--feature", "export",
         "--device", device, "--device-match", "2"],
        ["--type", "trial", "--not-before", "2026-04-01", "--expires-after-activation", "30d"],
    ]  # fmt: skip
    (site.tmp / "batch.csv").write_text("\n".join([header, *lines]) + "\n")
    result = site.vendor_ok("issue", "--from-csv", "batch.csv", "-o", "out", "--json")
    printed = json.loads(result.out)
    assert [r["line"] for r in printed["licenses"]] == [2, 3, 4, 5]
    assert result.err.startswith("... issuing 4 licenses")
    for entry, args in zip(printed["licenses"], options, strict=True):
        single = site.issue_with(f"{entry['line']}.lic", *args, product="acme-suite")
        from_csv = json.loads(site.vendor.license_record(entry["id"])["terms"])
        same = {k: v for k, v in single.items() if k not in ("id", "issued_at")}
        assert {k: v for k, v in from_csv.items() if k not in ("id", "issued_at")} == same
        written = (site.tmp / "out" / entry["file"]).read_bytes()
        assert dearmor(written)[0] == site.vendor.license_record(entry["id"])["document"]
    assert site.vendor.license_record(printed["licenses"][0]["id"])["order_id"] == "PO-7"


# --- bad rows: named by line and column, nothing written ---------------------------------------


BAD_ROWS = {
    "a bad date": (rows(f"{PRODUCT},{CUSTOMER},subscription,2027-12-31", f"{PRODUCT},{CUSTOMER},subscription,31.12.2027",
                        header="product,customer,type,expires"),
                   "line 3, column 4 (expires): '31.12.2027' is not a date"),
    "an unknown product": (rows(f"acme-xyz,{CUSTOMER},perpetual,"),
                           "line 2, column 1 (product): unknown product 'acme-xyz'"),
    "an unknown customer": (rows(f"{PRODUCT},initech,perpetual,"),
                            "line 2, column 2 (customer): unknown customer 'initech'"),
    "a bad feature name": (rows(f"{PRODUCT},{CUSTOMER},perpetual,,export;no such!",
                                header="product,customer,type,duration,features"),
                           "line 2, column 5 (features): "),
    "a limit that is not a number": (rows(f"{PRODUCT},{CUSTOMER},perpetual,three",
                                          header="product,customer,type,Max-Devices"),
                                     "line 2, column 4 (Max-Devices): 'three': give a whole number"),
    "a limit too large": (rows(f"{PRODUCT},{CUSTOMER},perpetual,4294967296",
                               header="product,customer,type,max_devices"),
                          "line 2, column 4 (max_devices): "),
    "a flag that is not a flag": (rows(f"{PRODUCT},{CUSTOMER},perpetual,maybe",
                                       header="product,customer,type,require_activation"),
                                  "line 2, column 4 (require_activation): 'maybe': use true or false"),
    "a perpetual license with a duration": (rows(f"{PRODUCT},{CUSTOMER},perpetual,1y"),
                                            "line 2, column 4 (duration): "),
    "a subscription without an expiry": (rows(f"{PRODUCT},{CUSTOMER},perpetual,", f"{PRODUCT},{CUSTOMER},subscription,"),
                                         "line 3, column 4 (duration): a subscription license needs"),
    "grace without an expiry": (rows(f"{PRODUCT},{CUSTOMER},perpetual,14d", header="product,customer,type,grace"),
                                "line 2, column 4 (grace): a grace period needs an expiry"),
    "a bad counter": (rows(f"{PRODUCT},{CUSTOMER},perpetual,pages=lots", header="product,customer,type,counters"),
                      "line 2, column 4 (counters): "),
    "a bad user": (rows(f"{PRODUCT},{CUSTOMER},perpetual,a\u202eb", header="product,customer,type,users"),
                   "line 2, column 4 (users): "),
    "a bad fingerprint": (rows(f"{PRODUCT},{CUSTOMER},perpetual,fp1.!!", header="product,customer,type,devices"),
                          "line 2, column 4 (devices): "),
    "a bad duration": (rows(f"{PRODUCT},{CUSTOMER},subscription,12m"),
                       "line 2, column 4 (duration): "),
    "an unknown type": (rows(f"{PRODUCT},{CUSTOMER},forever,"), "line 2, column 3 (type): "),
    "an empty product cell": (rows(f",{CUSTOMER},perpetual,"),
                              "line 2, column 1 (product): a license needs a product"),
    "an unknown order": (rows(f"{PRODUCT},{CUSTOMER},perpetual,PO-404", header="product,customer,type,order"),
                         "line 2, column 4 (order): "),
    "meta without a value": (rows(f"{PRODUCT},{CUSTOMER},perpetual,crm", header="product,customer,type,meta"),
                             "line 2, column 4 (meta): 'crm': use KEY=VALUE"),
    "an unknown column": (b"product,customer,type,colour\n", "line 1, column 4 (colour): unknown column"),
    "a column named twice": (b"product,customer,type,Product\n", "line 1, column 4 (Product): this column is named twice"),
    "a missing required column": (b"product,type\nacme-cad,perpetual\n", "line 1: the header must name the columns customer"),
    "a header only": (b"product,customer,type\n", "line 1: no licenses"),
    "an empty file": (b"\n", "line 1: the first line must name the columns"),
    "a row with too many cells": (rows(f"{PRODUCT},{CUSTOMER},perpetual,", f"{PRODUCT},{CUSTOMER},perpetual,,extra"),
                                  "line 3: 5 cells, but the header names 4 columns"),
    "bytes that are not UTF-8": (rows(f"{PRODUCT},{CUSTOMER},perpetual,", f"{PRODUCT},glob\xffex,perpetual,").replace(b"\xc3\xbf", b"\xff"),
                                 "line 3: not UTF-8 text"),
    "an unterminated quote": (rows(f"{PRODUCT},{CUSTOMER},perpetual,", f'{PRODUCT},"{CUSTOMER},perpetual,'),
                              "line 3: not a well-formed CSV line"),
    "a NUL byte": (rows(f"{PRODUCT},{CUSTOMER},perpetual,\x00"), "line 2, column 4 (duration): a NUL character"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_a_bad_row_is_named_by_line_and_column_and_nothing_is_written(
    vendor: Vendor, tmp_path: Path, case: str
) -> None:
    data, expected = BAD_ROWS[case]
    before = vendor.ledger_dump()
    source = Passphrase()
    with pytest.raises(CsvError) as raised:
        issue_from_csv(vendor.ws, data, str(tmp_path / "out"), source, now=NOW)
    assert str(raised.value).startswith(expected), str(raised.value)
    assert "\n" not in str(raised.value)
    assert source.calls == 0  # refused before the key was opened
    assert vendor.ledger_dump() == before
    assert not (tmp_path / "out").exists()


def test_blank_rows_are_skipped_and_lines_are_counted_as_in_the_file(
    vendor: Vendor, tmp_path: Path
) -> None:
    data = (
        f'\ufeffproduct,customer,type,meta\n{PRODUCT},{CUSTOMER},perpetual,"note=two\nlines"\n'
        f",,,\n\n{PRODUCT},{CUSTOMER},perpetual,crm\n"
    ).encode()
    with pytest.raises(CsvError) as raised:
        issue_from_csv(vendor.ws, data, str(tmp_path / "out"), Passphrase(), now=NOW)
    assert (raised.value.line, raised.value.column, raised.value.name) == (6, 4, "meta")


def test_the_file_and_row_limits(
    vendor: Vendor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "MAX_CSV_ROWS", 3)
    with pytest.raises(CsvError, match=r"^line 5: more than 3 licenses"):
        issue_from_csv(vendor.ws, simple(4), str(tmp_path / "a"), Passphrase(), now=NOW)
    with monkeypatch.context() as patch:
        patch.setattr(bulk, "MAX_CSV_BYTES", 100)
        with pytest.raises(CsvError, match="larger than 100 bytes"):
            issue_from_csv(vendor.ws, simple(3), str(tmp_path / "b"), Passphrase(), now=NOW)
    long_cell = rows(f"{PRODUCT},{CUSTOMER},perpetual,x={'y' * bulk.MAX_CELL_CHARS}",
                     header="product,customer,type,meta")  # fmt: skip
    with pytest.raises(CsvError, match=r"^line 2, column 4 \(meta\): longer than"):
        bulk.read_issue_csv(long_cell)


def test_a_feature_the_product_does_not_declare_is_named_by_its_column(
    vendor: Vendor, tmp_path: Path
) -> None:
    licsign.add_product(vendor.ws, "acme-suite", name="Acme Suite", features=["export"], now=NOW)
    data = rows(
        "acme-suite,globex,perpetual,export;render", header="product,customer,type,features"
    )
    with pytest.raises(
        CsvError, match=r"^line 2, column 4 \(features\): product 'acme-suite' has no"
    ):
        issue_from_csv(vendor.ws, data, str(tmp_path / "out"), Passphrase(), now=NOW)


def test_an_order_of_another_customer_is_named_by_its_column(
    vendor: Vendor, tmp_path: Path
) -> None:
    licsign.add_customer(vendor.ws, "initech", name="Initech", now=NOW)
    licsign.add_order(vendor.ws, "PO-1", customer="initech", now=NOW)
    data = rows(f"{PRODUCT},{CUSTOMER},perpetual,PO-1", header="product,customer,type,order")
    with pytest.raises(CsvError, match=r"^line 2, column 4 \(order\): order 'PO-1' belongs to"):
        issue_from_csv(vendor.ws, data, str(tmp_path / "out"), Passphrase(), now=NOW)


# --- all or nothing ------------------------------------------------------------------------------


def test_a_wrong_passphrase_records_and_writes_nothing(vendor: Vendor, tmp_path: Path) -> None:
    before = vendor.ledger_dump()
    source = Passphrase(b"not the vendor's passphrase")
    with pytest.raises(WrongPassphraseError):
        issue_from_csv(vendor.ws, simple(20), str(tmp_path / "out"), source, now=NOW)
    assert source.calls == 1
    assert vendor.ledger_dump() == before
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["signing", "recording"])
def test_a_failure_in_the_middle_of_a_batch_undoes_all_of_it(
    vendor: Vendor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    monkeypatch.setattr(bulk, "_CHUNK", 10)
    calls = {"n": 0}

    def failing(real: Callable[..., Any], after: int) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls["n"] += 1
            if calls["n"] > after:
                raise RuntimeError("injected failure")
            return real(*args, **kwargs)

        return wrapper

    if where == "signing":  # the 25th license, in the third batch of statements
        monkeypatch.setattr(bulk, "sign_license", failing(bulk.sign_license, 24))
    else:  # the third batch of statements, after two were inserted
        ledger = vendor.ws.ledger
        monkeypatch.setattr(ledger, "add_licenses", failing(ledger.add_licenses, 2))
    before = vendor.ledger_dump()
    with pytest.raises(RuntimeError, match="injected"):
        issue_from_csv(vendor.ws, simple(30), str(tmp_path / "out"), Passphrase(), now=NOW)
    assert vendor.ledger_dump() == before
    assert not (tmp_path / "out").exists()
    assert not vendor.ws.ledger.in_transaction


def test_inside_a_callers_unit_of_work_the_batch_is_part_of_it(vendor: Vendor) -> None:
    before = vendor.ledger_dump()
    with pytest.raises(RuntimeError), vendor.ws.ledger.transaction():
        issue_many(
            vendor.ws, [IssueRequest(PRODUCT, CUSTOMER, "perpetual")] * 3, Passphrase(), now=NOW
        )
        raise RuntimeError("the caller changes its mind")
    assert vendor.ledger_dump() == before


def test_files_that_cannot_be_written_after_the_commit_are_recoverable_from_the_ledger(
    vendor: Vendor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(directory: str, name: str, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bulk, "_write_new", full_disk)
    with pytest.raises(BatchExportError) as raised:
        issue_from_csv(vendor.ws, simple(3), str(tmp_path / "out"), Passphrase(), now=NOW)
    assert raised.value.code == "export-failed"
    assert "issued and recorded" in str(raised.value) and "licsign show ID --export" in str(
        raised.value
    )
    assert "No space left on device" in str(raised.value)
    for license_id in raised.value.license_ids:  # recorded: each can be written again
        details = licsign.license_details(vendor.ws, license_id, now=NOW)
        assert (
            licverify.verify_license(
                details.armored, trusted_roots=vendor.roots, product=PRODUCT, now=NOW
            ).id
            == license_id
        )
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_the_output_directory_must_be_new_or_empty(vendor: Vendor, tmp_path: Path) -> None:
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "old.lic").write_text("x")
    (tmp_path / "file").write_text("x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "empty")
    before = vendor.ledger_dump()
    for name, error in [("used", licsign.AlreadyExistsError), ("file", licsign.InvalidInputError),
                        ("link", licsign.InvalidInputError),
                        ("missing/out", licsign.InvalidInputError)]:  # fmt: skip
        with pytest.raises(error):
            issue_from_csv(vendor.ws, simple(1), str(tmp_path / name), Passphrase(), now=NOW)
    assert vendor.ledger_dump() == before
    batch = issue_from_csv(vendor.ws, simple(2), str(tmp_path / "empty"), Passphrase(), now=NOW)
    assert len(os.listdir(tmp_path / "empty")) == 3 == len(batch.licenses) + 1


# --- license ids ---------------------------------------------------------------------------------


def repeating(*chunks: bytes) -> Callable[[int], bytes]:
    """A randomness source that yields ``chunks`` first (repeats), then real randomness."""
    queue = list(chunks)

    def draw(n: int) -> bytes:
        return queue.pop(0) if queue else os.urandom(n)

    return draw


def test_a_batch_never_gives_two_licenses_one_id_nor_reuses_one_in_the_ledger(
    vendor: Vendor,
) -> None:
    taken = issue_many(vendor.ws, [IssueRequest(PRODUCT, CUSTOMER, "perpetual")], Passphrase(),
                       now=NOW, random_bytes=repeating(b"\x11" * 8))[0].id  # fmt: skip
    draws = repeating(b"\x11" * 8, b"\x22" * 8, b"\x22" * 8, b"\x11" * 8, b"\x33" * 8, b"\x22" * 8)
    issued = issue_many(vendor.ws, [IssueRequest(PRODUCT, CUSTOMER, "perpetual")] * 4, Passphrase(),
                        now=NOW, random_bytes=draws)  # fmt: skip
    ids = [lic.id for lic in issued]
    assert len(set(ids)) == 4 and taken not in ids
    assert licsign.new_license_id(repeating(b"\x22" * 8)) in ids
    recorded = [row["id"] for row in vendor.ledger_dump()["licenses"]]
    assert len(recorded) == len(set(recorded)) == 5


# --- a batch killed at random moments -------------------------------------------------------------


def _killed_batches(vendor: Vendor, tmp_path: Path, trials: int, size: int) -> list[int]:
    """Run ``trials`` batches of ``size`` in forked children, each SIGKILLed at a random moment
    of what an uninterrupted batch takes; the number of licenses after each."""
    import random
    import signal
    import time

    home, url, data = vendor.home, vendor.ledger_url, simple(size)
    vendor.close()  # no connection may cross a fork

    def child(out: Path) -> int:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                issue_from_csv(licsign.Workspace(home, url), data, str(out), lambda: PW, now=NOW)
            finally:
                os._exit(0)
        return pid

    start = time.perf_counter()
    os.waitpid(child(tmp_path / "whole"), 0)
    span = time.perf_counter() - start
    rng, counts = random.Random(8), []
    for trial in range(trials):
        pid = child(tmp_path / f"out-{trial}")
        time.sleep(rng.uniform(0, span))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        counts.append(_check_after_kill(vendor, tmp_path / f"out-{trial}", size))
    return counts


def _check_after_kill(vendor: Vendor, out: Path, size: int) -> int:
    """All or nothing in the ledger, its history whole, no file for a license it lacks, and a
    manifest only beside every file it lists."""
    ws = licsign.Workspace(vendor.home, vendor.ledger_url)
    try:
        ws.ledger.verify_events()
    finally:
        ws.close()
    recorded = [row["id"] for row in vendor.ledger_dump()["licenses"]]
    assert len(recorded) == len(set(recorded)) and len(recorded) % size == 0
    files = sorted(os.listdir(out)) if out.exists() else []
    assert {f.removesuffix(".lic") for f in files if f.endswith(".lic")} <= set(recorded)
    if "manifest.csv" in files:
        listed = list(csv.DictReader((out / "manifest.csv").open()))
        assert len(listed) == size
        for row in listed:
            assert hashlib.sha256((out / row["file"]).read_bytes()).hexdigest() == row["sha256"]
    return len(recorded)


@pytest.mark.slow
def test_a_batch_killed_at_any_moment_leaves_all_of_it_or_none(
    vendor: Vendor, tmp_path: Path
) -> None:
    counts = _killed_batches(vendor, tmp_path, trials=100, size=40)
    assert counts == sorted(counts)  # a later trial never loses what an earlier one recorded
    assert len(set(counts)) > 2, counts  # some trials were killed before the commit, some after


# --- the command line -----------------------------------------------------------------------------


def test_licsign_issue_from_csv_on_the_command_line(site: Site) -> None:
    (site.tmp / "batch.csv").write_bytes(simple(3))
    result = site.vendor_ok("issue", "--from-csv", "batch.csv", "-o", "out")
    assert result.out.startswith("Issued 3 licenses to out")
    assert result.err == "... issuing 3 licenses\n"
    listed = list(csv.DictReader((site.tmp / "out" / "manifest.csv").open()))
    assert [r["line"] for r in listed] == ["2", "3", "4"]
    for row in listed:
        assert site.check(f"out/{row['file']}").code == 0


def test_a_bad_row_on_the_command_line_is_one_line_and_changes_nothing(site: Site) -> None:
    (site.tmp / "batch.csv").write_bytes(
        rows(f"{PRODUCT},{CUSTOMER},perpetual,", f"{PRODUCT},{CUSTOMER},subscription,soon")
    )
    before = site.ledger()
    result = site.licsign("issue", "--from-csv", "batch.csv", "-o", "out")
    line = error_line_after_progress(result, "licsign", 2)
    assert line.startswith("licsign: error: line 3, column 4 (duration): ")
    assert site.ledger() == before
    assert not (site.tmp / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "out", "--product", PRODUCT], "--product cannot be combined with --from-csv"),
        (["-o", "out", "--max-devices", "2"], "--max-devices cannot be combined with --from-csv"),
        (["-o", "out", "--force"], "--force cannot be combined with --from-csv"),
        (["-o", "-"], "give -o DIRECTORY"),
        (["-o", "used"], "'used' is not empty"),
    ],
)
def test_from_csv_usage_errors(site: Site, args: list[str], message: str) -> None:
    (site.tmp / "batch.csv").write_bytes(simple(1))
    (site.tmp / "used").mkdir()
    (site.tmp / "used" / "x").write_text("x")
    before = site.ledger()
    result = site.licsign("issue", "--from-csv", "batch.csv", *args)
    assert result.code == 2 and message in result.err, result
    assert site.ledger() == before


def test_single_issue_still_needs_its_options(site: Site) -> None:
    for missing, given in [("--product", []), ("--customer", ["--product", PRODUCT]),
                           ("--type", ["--product", PRODUCT, "--customer", CUSTOMER])]:  # fmt: skip
        result = site.licsign("issue", *given, "-o", "x.lic")
        assert result.code == 2 and f"Missing option '{missing}'" in result.err, result


# --- many activation requests at once --------------------------------------------------------------


def test_activate_many_grants_and_refuses_each_on_its_own_with_the_key_opened_once(
    vendor: Vendor,
) -> None:
    lic = vendor.issue("perpetual", max_devices=2)
    machines = [vendor.machine(f"m{i}") for i in range(4)]
    requests = []
    for machine in machines:
        machine.import_license(lic)
        requests.append(machine.request())
    requests.insert(2, b"not a request")
    source = Passphrase()
    answers = activate_many(vendor.ws, requests, source, now=NOW)
    assert source.calls == 1
    assert [a.index for a in answers] == [0, 1, 2, 3, 4]
    granted = [a for a in answers if a.granted is not None]
    assert [a.index for a in granted] == [0, 1]
    assert answers[2].granted is None and answers[2].code == "malformed"
    assert answers[3].code == answers[4].code == "refused"
    assert "activated on 2 of 2 devices" in (answers[3].reason or "")
    assert vendor.open_seats(lic.id) == 2
    for machine, answer in zip(machines[:2], granted, strict=True):
        assert answer.granted is not None
        machine.install(answer.granted.response)
        assert machine.check().id == lic.id


def test_activate_many_with_a_wrong_passphrase_records_nothing(vendor: Vendor) -> None:
    lic = vendor.issue("perpetual", max_devices=5)
    machine = vendor.machine("m")
    machine.import_license(lic)
    before = vendor.ledger_dump()
    with pytest.raises(WrongPassphraseError):
        activate_many(vendor.ws, [machine.request(), machine.request()], Passphrase(b"wrong pass!!"),
                      now=NOW)  # fmt: skip
    assert vendor.ledger_dump() == before


def test_licsign_activate_several_requests_into_a_directory(site: Site) -> None:
    license_id = site.issue("lic.txt", "--max-devices", "1")
    names = []
    for name in ("alpha", "beta"):
        machine = site.machine(name)
        machine.ok("import", str(site.tmp / "lic.txt"))
        machine.ok("request", "-o", str(site.tmp / f"{name}.req"), "--label", name)
        names.append(f"{name}.req")
    (site.tmp / "junk.req").write_text("junk")
    result = site.licsign("activate", *names, "junk.req", "-o", "answers")
    assert result.code == 1, result
    lines = result.out.splitlines()
    assert lines[0].startswith("Granted activation A-") and "answers/alpha.response.txt" in lines[0]
    assert lines[1].startswith("Refused beta.req: refused: license " + license_id)
    assert lines[2].startswith("Refused junk.req: malformed: ")
    assert lines[3] == "1 granted, 2 refused"
    assert sorted(os.listdir(site.tmp / "answers")) == ["alpha.response.txt"]
    site.machine("alpha").ok("install", str(site.tmp / "answers" / "alpha.response.txt"))
    again = site.licsign("activate", "alpha.req", "-o", "answers", "--json", "--force")
    assert again.code == 0, again
    printed = json.loads(again.out)
    assert printed["refused"] == [] and printed["granted"][0]["renewed"] is True
    assert printed["granted"][0]["response"] == os.path.join("answers", "alpha.response.txt")


def test_licsign_activate_batch_usage_errors(site: Site) -> None:
    site.issue("lic.txt", "--max-devices", "3")
    for name in ("a", "b"):
        machine = site.machine(name)
        machine.ok("import", str(site.tmp / "lic.txt"))
        machine.ok("request", "-o", str(site.tmp / f"{name}.req"), "--label", name)
    (site.tmp / "dup").mkdir()
    (site.tmp / "dup" / "a.req").write_bytes((site.tmp / "b.req").read_bytes())
    (site.tmp / "answers").mkdir()
    (site.tmp / "answers" / "a.response.txt").write_text("old")
    before = site.ledger()
    for args, message in [
        (["a.req", "dup/a.req", "-o", "out"], "both be answered in"),
        (["a.req", "b.req", "-o", "answers"], "already exists"),
        (["a.req", "b.req", "-o", "lic.txt"], "is not a directory"),
        (["a.req", "missing.req", "-o", "new"], "does not exist"),
    ]:
        result = site.licsign("activate", *args)
        assert result.code == 2 and message in result.err, result
    assert site.ledger() == before


# --- the benchmark ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_bench_issue_quick_run_reports_the_rate_and_the_ratio() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "issue.py"), "--quick", "--json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    (sqlite,) = report["results"]["sqlite"]
    assert sqlite["licenses"] == 200 and sqlite["per_second"] > 0 and sqlite["ratio_median"] > 1
    assert sqlite["verdict"] in ("PASS", "OVER")
