"""The local store's file lock: processes of one application never lose each other's writes."""

from __future__ import annotations

import multiprocessing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import licverify
from licsign import IssueRequest, init_workspace, issue_license

PRODUCT = "acme-cad"
PROCESSES = 8
PASSPHRASE = b"store concurrency passphrase"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def _make_request(state_dir: str, start: multiprocessing.synchronize.Barrier, index: int) -> None:
    store = licverify.LocalStore(state_dir)
    fingerprint = licverify.machine_fingerprint(PRODUCT, machine_id="one-machine")
    start.wait(timeout=60)
    request = store.request(
        now=NOW + timedelta(seconds=index), fingerprint=fingerprint, label=f"process-{index}"
    )
    Path(state_dir).parent.joinpath(f"request-{index}.txt").write_bytes(request)


def test_concurrent_requests_keep_every_pending_nonce(
    tmp_path: Path, unsafe_fast_kdf: dict[str, int]
) -> None:
    ws = init_workspace(str(tmp_path / "ws"), PASSPHRASE, now=NOW - timedelta(minutes=1))
    ws.ledger.add_product(0, PRODUCT, "Acme CAD", [])
    ws.ledger.add_customer(0, "globex", "Globex", None)
    issued = issue_license(
        ws,
        IssueRequest(PRODUCT, "globex", "perpetual", activation_required=True),
        lambda: PASSPHRASE,
        now=NOW,
    )
    store = licverify.LocalStore(str(tmp_path / "state"))
    fingerprint = licverify.machine_fingerprint(PRODUCT, machine_id="one-machine")
    store.import_license(issued.armored, trusted_roots=[ws.root_public_key()], product=PRODUCT, now=NOW,
                         fingerprint=fingerprint)  # fmt: skip
    ws.close()

    context = multiprocessing.get_context("fork")
    start = context.Barrier(PROCESSES)
    workers = [
        context.Process(target=_make_request, args=(store.path, start, i)) for i in range(PROCESSES)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(90)
    assert [w.exitcode for w in workers] == [0] * PROCESSES

    pending = store.pending_requests()
    assert len(pending) == PROCESSES  # no read-modify-write of pending.json was lost
    assert sorted(entry["seq"] for entry in pending.values()) == list(range(1, PROCESSES + 1))
    # One device key signed all of them: it was created once, under the lock.
    requests = [
        licverify.verify_request((tmp_path / f"request-{i}.txt").read_bytes())
        for i in range(PROCESSES)
    ]
    assert {r.device_key for r in requests} == {store.device_public_key()}
    assert {r.nonce.hex() for r in requests} == set(pending)
    assert not [p.name for p in Path(store.path).iterdir() if p.name.startswith(".tmp-")]
