"""Revocation lists riding along in renewals and activation responses (format §5.1, ADR 0021).

Bundles: a file of several armored documents, each verified on its own;
garbage between blocks, too many blocks, a wrong label or a damaged list
fail closed, and nothing is written. The store installs a list that rides
along with a license or a response, ignores one older than (or the same as)
the installed list, and then refuses what it revokes, at import as at check.
The vendor's side: ``licsign renew/amend/transfer`` and ``activate`` (one
request or a batch) append the latest exported list unless
``--no-revocations``, on both ledger engines.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from factory import T0, UnsafeFactory, default_terms, public, signer
from harness import PRODUCT, Site

import licverify
import licverify.format as F
from licverify._bundle import MAX_BUNDLE_BLOCKS, split_bundle, split_main_and_lists
from licverify._revocation import RevocationList

NOW = datetime.fromtimestamp(T0, timezone.utc)
FACTORY = UnsafeFactory()
LICENSE = FACTORY.license(default_terms(id="L-1"))
LICENSE_TEXT = F.armor(LICENSE, F.LICENSE)


def make_list(number: int, **entries: object) -> bytes:
    """A signed binary revocation list for every product."""
    payload = F.encode_revocation_payload(
        RevocationList(number=number, issued_at=T0 - 60, issuer="Acme", product=None,
                       **entries)  # type: ignore[arg-type]
    )  # fmt: skip
    return F.encode_sign1(
        F.REVOCATION_LIST, F.key_id(public(FACTORY.issuing)), payload, signer(FACTORY.issuing),
        FACTORY.certificate(),
    )  # fmt: skip


def listed(number: int, **entries: object) -> bytes:
    return F.armor(make_list(number, **entries), F.REVOCATION_LIST)


def bundle(*blocks: bytes) -> bytes:
    return b"\n".join(blocks)


def store_at(tmp_path: Path) -> licverify.LocalStore:
    return licverify.LocalStore(str(tmp_path / "state"))


def import_into(store: licverify.LocalStore, data: bytes) -> licverify.License:
    return store.import_license(data, trusted_roots=FACTORY.roots, product=PRODUCT, now=NOW)


def installed_number(store: licverify.LocalStore) -> int | None:
    got = store.installed_revocations(trusted_roots=FACTORY.roots, product=PRODUCT, now=NOW)
    return None if got is None else got.number


# --- parsing -------------------------------------------------------------------------------------


def test_a_bundle_splits_into_its_documents() -> None:
    lst = listed(1)
    for data in (
        bundle(LICENSE_TEXT, lst),
        LICENSE_TEXT + b"\n\n\n" + lst,
        (LICENSE_TEXT + b"\n" + lst).replace(b"\n", b"\r\n"),
        b"  \n" + LICENSE_TEXT + lst + b"\n\n",  # no blank line needed, whitespace around
    ):
        documents = split_bundle(data)
        assert [kind for _, kind in documents] == [F.LICENSE, F.REVOCATION_LIST]
        assert documents[0][0] == LICENSE and documents[1][0] == make_list(1)
        main, lists = split_main_and_lists(data)
        assert main == LICENSE_TEXT and lists == [lst]


def test_single_documents_are_passed_through_unchanged() -> None:
    assert split_main_and_lists(LICENSE_TEXT) == (LICENSE_TEXT, [])
    assert split_main_and_lists(LICENSE) == (LICENSE, [])
    # binary files stay single documents: an armored tail is part of the binary input
    assert split_main_and_lists(LICENSE + b"\n" + listed(1)) == (LICENSE + b"\n" + listed(1), [])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(bundle(LICENSE_TEXT, b"hello", listed(1)), "text between", id="garbage"),
        pytest.param(bundle(LICENSE_TEXT, listed(1), b"trailing"), "text between",
                     id="garbage-after"),
        pytest.param(bundle(LICENSE_TEXT, *[listed(n) for n in range(1, MAX_BUNDLE_BLOCKS + 1)]),
                     "more than 4", id="too-many-blocks"),
        pytest.param(bundle(LICENSE_TEXT, LICENSE_TEXT), "only revocation lists",
                     id="license-riding-along"),
        pytest.param(bundle(LICENSE_TEXT, listed(1).replace(b"REVOCATION LIST", b"REVOCATION LYST")),
                     "unknown armor label", id="unknown-label"),
        pytest.param(bundle(LICENSE_TEXT, listed(1).replace(b"-----END LICSIGN REVOCATION LIST-----\n",
                                                            b"")), "no END line", id="truncated"),
        pytest.param(bundle(LICENSE_TEXT, listed(1).replace(b"-----END", b"-----FIN")),
                     "no END line", id="damaged-end"),
        pytest.param(bundle(LICENSE_TEXT, listed(1)) + b" " * (2 * 64 * 1024), "larger",
                     id="too-large"),
    ],
)  # fmt: skip
def test_bad_bundles_are_refused(data: bytes, message: str, tmp_path: Path) -> None:
    with pytest.raises(licverify.MalformedError, match=message):
        split_main_and_lists(data)
    store = store_at(tmp_path)
    with pytest.raises(licverify.MalformedError):
        import_into(store, data)
    assert not (tmp_path / "state").exists()  # refused before anything is written


def test_bit_flips_in_the_second_block_are_refused(tmp_path: Path) -> None:
    document = make_list(1, licenses={"L-9": None})
    store = store_at(tmp_path)
    accepted = []
    for i in range(0, len(document) * 8, 5):  # every fifth bit keeps the test quick
        flipped = bytearray(document)
        flipped[i // 8] ^= 1 << (i % 8)
        data = bundle(LICENSE_TEXT, F.armor(bytes(flipped), F.REVOCATION_LIST))
        try:
            import_into(store, data)
        except licverify.LicenseError:
            continue
        accepted.append(i)
    assert accepted == []
    assert not (tmp_path / "state").exists()


# --- the store -----------------------------------------------------------------------------------


def state_files(tmp_path: Path) -> dict[str, bytes]:
    """Every file of the store's directory, by name."""
    top = tmp_path / "state"
    return {p.name: p.read_bytes() for p in top.iterdir() if p.is_file()} if top.exists() else {}


def check(store: licverify.LocalStore) -> licverify.License:
    return store.check(trusted_roots=FACTORY.roots, product=PRODUCT, now=NOW, fingerprint={})


def test_a_license_the_installed_list_revokes_is_refused_and_nothing_changes(
    tmp_path: Path,
) -> None:
    store = store_at(tmp_path)
    store.import_revocations(listed(1, licenses={"L-1": frozenset({1})}),
                             trusted_roots=FACTORY.roots, product=PRODUCT, now=NOW)  # fmt: skip
    before = state_files(tmp_path)
    with pytest.raises(licverify.RevokedError, match=r"license L-1 \(version 1\) has been revoked"):
        import_into(store, LICENSE_TEXT)
    with pytest.raises(licverify.RevokedError):  # the same list riding along changes nothing
        import_into(store, bundle(LICENSE_TEXT, listed(1, licenses={"L-1": frozenset({1})})))
    assert state_files(tmp_path) == before and store.installed_license() is None
    # A newer version the list does not name imports, and is licensed.
    renewed = FACTORY.license(default_terms(id="L-1", version=2))
    assert import_into(store, F.armor(renewed, F.LICENSE)).version == 2
    assert check(store).version == 2
    # The revoked version cannot come back over it.
    installed = state_files(tmp_path)
    with pytest.raises(licverify.RevokedError):
        import_into(store, LICENSE)
    assert state_files(tmp_path) == installed


def test_a_license_signed_by_a_revoked_key_is_refused(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.import_revocations(listed(1, keys={F.key_id(public(FACTORY.issuing))}),
                             trusted_roots=FACTORY.roots, product=PRODUCT, now=NOW)  # fmt: skip
    with pytest.raises(licverify.RevokedError, match="issuing key"):
        import_into(store, LICENSE_TEXT)
    assert store.installed_license() is None


def test_a_license_carrying_a_list_that_revokes_it_installs_only_the_list(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    with pytest.raises(
        licverify.RevokedError, match=r"list in this file \(number 1\) was installed"
    ):
        import_into(store, bundle(LICENSE_TEXT, listed(1, licenses={"L-1": None})))
    assert installed_number(store) == 1 and store.installed_license() is None
    # Over an installed version of it: that version stays, and the list now refuses it.
    other = store_at(tmp_path / "other")
    import_into(other, LICENSE_TEXT)
    renewed = F.armor(FACTORY.license(default_terms(id="L-1", version=2)), F.LICENSE)
    with pytest.raises(licverify.RevokedError):
        import_into(other, bundle(renewed, listed(2, licenses={"L-1": None})))
    assert installed_number(other) == 2 and other.installed_license() == LICENSE
    with pytest.raises(licverify.RevokedError):
        check(other)


def test_an_older_or_equal_list_riding_along_is_ignored(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.import_revocations(listed(5), trusted_roots=FACTORY.roots, product=PRODUCT, now=NOW)
    before = (tmp_path / "state" / "revocations.cose").read_bytes()
    import_into(store, bundle(LICENSE_TEXT, listed(3, licenses={"L-1": None})))
    import_into(store, bundle(LICENSE_TEXT, listed(5, activations={"A-1"})))  # same number
    assert (tmp_path / "state" / "revocations.cose").read_bytes() == before
    store.check(trusted_roots=FACTORY.roots, product=PRODUCT, now=NOW, fingerprint={})
    # a newer one is installed; of several, the newest
    import_into(store, bundle(LICENSE_TEXT, listed(7), listed(6)))
    assert installed_number(store) == 7


def test_a_list_that_does_not_verify_fails_the_import(tmp_path: Path) -> None:
    other = UnsafeFactory(products=("other",))
    wrong = F.encode_sign1(
        F.REVOCATION_LIST, F.key_id(public(other.issuing)),
        F.encode_revocation_payload(RevocationList(number=9, issued_at=T0, issuer="Acme",
                                                   product=None)),
        signer(other.issuing), other.certificate(),
    )  # fmt: skip
    store = store_at(tmp_path)
    with pytest.raises(licverify.WrongProductError):
        import_into(store, bundle(LICENSE_TEXT, F.armor(wrong, F.REVOCATION_LIST)))
    assert store.installed_license() is None


# --- both command lines, both ledger engines -----------------------------------------------------


def test_a_renewal_carries_the_latest_list_to_the_machine(site: Site) -> None:
    revoked = site.issue_with("x.lic", "--type", "perpetual")["id"]
    lic = site.issue_with("a.lic", "--type", "subscription", "--duration", "30d")["id"]
    plain = site.vendor_ok("renew", lic, "--extend", "30d", "-o", str(site.tmp / "a2.lic"),
                           "--json")  # fmt: skip
    assert json.loads(plain.out)["revocation_list"] is None  # nothing exported yet
    site.vendor_ok("revoke", revoked, "--reason", "issued by mistake")
    site.vendor_ok("revocations", "export", "-o", str(site.tmp / "list-1.txt"))
    out = site.vendor_ok("renew", lic, "--extend", "1y", "-o", str(site.tmp / "a3.lic"), "--json")
    assert json.loads(out.out)["revocation_list"] == 1
    text = (site.tmp / "a3.lic").read_bytes()
    assert text.count(b"-----BEGIN ") == 2 and text.endswith((site.tmp / "list-1.txt").read_bytes())
    # the machine imports the renewal: the list comes with it
    m1 = site.machine("m1")
    m1.ok("import", str(site.tmp / "x.lic"))
    m1.ok("status")
    imported = json.loads(m1.ok("import", str(site.tmp / "a3.lic"), "--json").out)
    assert imported["version"] == 3 and imported["revocation_list_installed"] == 1
    m1.ok("status")
    again = m1.ok("import", str(site.tmp / "a3.lic"))  # the same file again: nothing new
    assert "revocation list" not in again.out + again.err
    # the revoked license is refused on that machine from now on, and the renewal stays
    refused = m1("import", str(site.tmp / "x.lic"))
    assert refused.code == 1 and "NOT VALID: revoked" in refused.out
    assert json.loads(m1.ok("status", "--json").out)["id"] == lic
    # --no-revocations and --binary write one document
    site.vendor_ok("amend", lic, "--max-devices", "3", "--no-revocations",
                   "-o", str(site.tmp / "a4.lic"))  # fmt: skip
    assert (site.tmp / "a4.lic").read_bytes().count(b"-----BEGIN ") == 1
    binary = site.vendor_ok("amend", lic, "--max-devices", "4", "--binary", "--json",
                            "-o", str(site.tmp / "a5.lic"))  # fmt: skip
    assert json.loads(binary.out)["revocation_list"] is None
    site.vendor_ok("ledger", "verify")


def test_an_activation_response_carries_the_list(site: Site) -> None:
    site.issue("a.lic", "--max-devices", "3")
    other = site.issue_with("x.lic", "--type", "perpetual")["id"]
    m1, m2 = site.machine("m1"), site.machine("m2")
    for machine in (m1, m2):
        machine.ok("import", str(site.tmp / "a.lic"))
        machine.ok("request", "-o", str(machine.path("req")))
    site.vendor_ok("revoke", other)
    site.vendor_ok("revocations", "export", "-o", str(site.tmp / "list-1.txt"))
    granted = site.vendor_ok("activate", str(m1.path("req")), "-o", str(m1.path("resp")), "--json")
    assert json.loads(granted.out)["revocation_list"] == 1
    installed = json.loads(m1.ok("install", str(m1.path("resp")), "--json").out)
    assert installed["revocation_list_installed"] == 1
    m1.ok("status")
    # an older list riding along is ignored: m2 already has list 2
    site.vendor_ok("revocations", "export", "-o", str(site.tmp / "list-2.txt"))
    m2.ok("import", str(site.tmp / "list-2.txt"))
    old = m1.path("resp").read_bytes().split(b"\n-----BEGIN LICSIGN REVOCATION LIST")[0]
    assert b"REVOCATION" not in old
    (site.tmp / "out").mkdir()
    batch = json.loads(site.vendor_ok("activate", str(m2.path("req")), "-o",
                                      str(site.tmp / "out"), "--json").out)  # fmt: skip
    assert batch["granted"][0]["revocation_list"] == 2
    response = site.tmp / "out" / "m2-req.response.txt"
    response.write_bytes(response.read_bytes().split(b"\n-----BEGIN LICSIGN REVOCATION")[0]
                         + b"\n" + (site.tmp / "list-1.txt").read_bytes())  # fmt: skip
    done = json.loads(m2.ok("install", str(response), "--json").out)
    assert done["revocation_list_installed"] is None  # list 1 < list 2: ignored, not refused
    m2.ok("status")
    # a damaged list riding along fails the install, one line, nothing installed
    m3 = site.machine("m3")
    m3.ok("import", str(site.tmp / "a.lic"))
    m3.ok("request", "-o", str(m3.path("req")))
    site.vendor_ok("activate", str(m3.path("req")), "--no-revocations", "-o",
                   str(m3.path("resp")))  # fmt: skip
    assert m3.path("resp").read_bytes().count(b"-----BEGIN ") == 1
    damaged = (site.tmp / "list-1.txt").read_bytes()[
        :-120
    ] + b"\n-----END LICSIGN REVOCATION LIST-----\n"
    m3.path("resp").write_bytes(m3.path("resp").read_bytes() + b"\n" + damaged)
    refused = m3("install", str(m3.path("resp")))
    assert refused.code == 1 and "NOT VALID: malformed" in refused.out
    assert m3("status").code != 0
