"""The ``licsign`` command line, driven in-process through ``licsign.cli.main``.

Every command is run the way a user runs it (arguments, environment, files)
and its effect is checked with the verifier library: a license the CLI
writes must verify against the root key the CLI exports, with the terms
that were asked for.
"""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from factory import OTHER_ROOT, public

import licverify
from licsign import Workspace
from licsign.cli import main
from licsign.cli import HOME_ENV, PASSPHRASE_ENV
from licverify.format import LICENSE, armor, dearmor

PASSPHRASE = "correct horse battery staple"
PRODUCT = "acme-cad"
FEATURES = ("export", "seats", "beta", "tier", "plugin")


class Result(NamedTuple):
    code: int
    out: Any
    err: Any


class Cli:
    """Runs ``licsign`` in-process and checks the invariants every run must keep."""

    def __init__(self, capture: Any, home: Path, tmp: Path) -> None:
        self.capture, self.home, self.tmp = capture, home, tmp
        self.root_pem = tmp / "root.pem"

    def __call__(self, *args: str) -> Result:
        self.capture.readouterr()
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code
        else:  # pragma: no cover - main always exits
            raise AssertionError("licsign main() returned instead of exiting")
        out, err = self.capture.readouterr()
        text = out + err if isinstance(out, str) else (out + err).decode("utf-8", "replace")
        assert "Traceback" not in text
        assert isinstance(code, int)
        return Result(code, out, err)

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.code == 0, result
        return result

    def fails(self, code: int, *args: str) -> str:
        """Run, expect exit ``code`` and exactly one error line on stderr; return it."""
        result = self(*args)
        assert result.code == code, result
        assert result.out == ""
        lines = [line for line in result.err.splitlines() if not line.startswith("... ")]
        assert len(lines) == 1, result.err
        assert lines[0].startswith("licsign: ")
        return lines[0]

    @property
    def root(self) -> bytes:
        return licverify.load_public_keys(self.root_pem.read_bytes())[0]

    def issue(self, out: str, *args: str, product: str = PRODUCT) -> str:
        """Issue a license to ``out`` (under tmp); return the license id."""
        result = self.ok("issue", "--product", product, "--customer", "globex", *args, "-o", str(self.tmp / out))
        first = result.out.split()
        assert first[:2] == ["Issued", "license"]
        return first[2]

    def verify(self, name: str | Path, product: str = PRODUCT, importing: bool = False,
               **kwargs: Any) -> licverify.License:  # fmt: skip
        """Verify a license file; ``importing``: everything but the activation (as a store's import)."""
        from licverify._verify import verify_license_for_import

        path = self.tmp / name
        kwargs.setdefault("now", datetime.now(timezone.utc))
        check = verify_license_for_import if importing else licverify.verify_license
        return check(path.read_bytes(), trusted_roots=[self.root], product=product, **kwargs)


def snapshot(top: Path) -> dict[str, tuple[int, int] | None]:
    """Names, sizes and mtimes of every file under ``top`` (directories by name only)."""
    found: dict[str, tuple[int, int] | None] = {}
    for directory, dirs, files in os.walk(top):
        for name in dirs:
            found[os.path.relpath(os.path.join(directory, name), top)] = None
        for name in files:
            info = os.lstat(os.path.join(directory, name))
            found[os.path.relpath(os.path.join(directory, name), top)] = (info.st_size, info.st_mtime_ns)
    return found


@pytest.fixture
def cli(unsafe_fast_kdf: dict[str, int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any) -> Cli:
    home = tmp_path / "ws"
    monkeypatch.setenv(HOME_ENV, str(home))
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    for name in ("LICSIGN_DEBUG", "LICVERIFY_TRUST", "LICVERIFY_PRODUCT", "LICVERIFY_MACHINE_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return Cli(capsys, home, tmp_path)


def clock(offset: timedelta) -> Any:
    return lambda: datetime.now(timezone.utc) + offset


@pytest.fixture
def ws(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """An initialized workspace with two products, a customer and the exported root key.

    The workspace is created a minute in the past, so the first issuing key is
    strictly older than any key a test adds (the ledger orders keys by second).
    """
    import licsign.cli.workspace

    with monkeypatch.context() as patch:
        patch.setattr(licsign.cli.workspace, "now_utc", clock(timedelta(minutes=-1)))
        cli.ok("init", "--vendor", "Acme Inc.")
    cli.ok("product", "add", PRODUCT, "--name", "Acme CAD", *(x for f in FEATURES for x in ("--feature", f)))
    cli.ok("product", "add", "other")
    cli.ok("customer", "add", "globex", "--name", "Globex Corp", "--email", "it@globex.example")
    cli.ok("key", "export-public", "-o", str(cli.root_pem))
    return cli


def ledger_bytes(cli: Cli) -> bytes:
    return (cli.home / "ledger.sqlite3").read_bytes()


# --- init ---------------------------------------------------------------------------------------


def test_init_creates_a_workspace_and_prints_the_root_key(cli: Cli) -> None:
    result = cli.ok("init", "--vendor", "Acme Inc.")
    root = Workspace(str(cli.home)).root_public_key()
    assert f"Workspace created in {cli.home}" in result.out
    assert f"Root public key: {root.hex()}" in result.out
    assert "... creating the root key" in result.err
    assert "... creating the first issuing key" in result.err
    keys = sorted(os.listdir(cli.home / "keys"))
    assert keys[-1] == "root.key"
    assert [k.rsplit(".", 1)[1] for k in keys[:2]] == ["cert", "key"]
    for name in keys:
        if name.endswith(".key"):
            assert stat.S_IMODE(os.stat(cli.home / "keys" / name).st_mode) == 0o600
    assert {"workspace.json", "ledger.sqlite3", "keys"} <= set(os.listdir(cli.home))


def test_init_json(cli: Cli) -> None:
    data = json.loads(cli.ok("init", "--vendor", "Acme Inc.", "--json").out)
    assert data["home"] == str(cli.home)
    assert data["vendor"] == "Acme Inc."
    assert data["root_public_key"] == Workspace(str(cli.home)).root_public_key().hex()
    assert [k["role"] for k in data["keys"]] == ["root", "issuing"]


def test_init_twice_is_refused_and_changes_nothing(cli: Cli) -> None:
    cli.ok("init")
    before = snapshot(cli.home)
    line = cli.fails(2, "init")
    assert "already a licsign workspace" in line
    assert snapshot(cli.home) == before


def test_init_in_a_non_empty_directory_is_refused(cli: Cli) -> None:
    cli.home.mkdir()
    (cli.home / "notes.txt").write_text("mine\n")
    line = cli.fails(2, "init")
    assert "not empty" in line
    assert os.listdir(cli.home) == ["notes.txt"]


def test_init_without_a_passphrase_creates_nothing(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV)
    line = cli.fails(2, "init")
    assert PASSPHRASE_ENV in line
    assert not cli.home.exists()


def test_init_with_passphrase_file_and_home_option(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV)
    monkeypatch.delenv(HOME_ENV)
    (cli.tmp / "pass.txt").write_text("from a file, long enough\nsecond line ignored\n")
    other = cli.tmp / "elsewhere"
    cli.ok("--home", str(other), "--passphrase-file", str(cli.tmp / "pass.txt"), "init")
    cli.ok("--home", str(other), "product", "add", PRODUCT)
    cli.ok("--home", str(other), "customer", "add", "globex")
    cli.ok("--home", str(other), "key", "export-public", "-o", str(cli.root_pem))
    # The same first line opens the keys; the env var is not needed.
    cli.ok("--home", str(other), "--passphrase-file", str(cli.tmp / "pass.txt"), "issue", "--product", PRODUCT,
           "--customer", "globex", "--type", "perpetual", "-o", str(cli.tmp / "a.lic"))  # fmt: skip
    assert cli.verify("a.lic").type == "perpetual"


# --- keys ---------------------------------------------------------------------------------------


def test_key_list_text_and_json(ws: Cli) -> None:
    text = ws.ok("key", "list").out.splitlines()
    assert text[0].split() == ["KEY", "ID", "ROLE", "STATUS", "VALID", "UNTIL", "PRODUCTS"]
    assert [line.split()[1] for line in text[1:]] == ["root", "issuing"]
    rows = json.loads(ws.ok("key", "list", "--json").out)
    assert [r["role"] for r in rows] == ["root", "issuing"]
    assert all(r["status"] == "active" for r in rows)
    assert rows[0]["public_key"] == ws.root.hex()
    assert rows[0]["not_after"] is None and rows[1]["not_after"] is not None
    assert rows[1]["products"] is None


def test_key_new_issuing_with_product_restriction_and_validity(ws: Cli) -> None:
    cert = json.loads(ws.ok("key", "new-issuing", "--product", PRODUCT, "--validity", "30d", "--json").out)
    assert cert["products"] == [PRODUCT]
    start = datetime.fromisoformat(cert["not_before"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(cert["not_after"].replace("Z", "+00:00"))
    assert end - start == timedelta(days=30)

    rows = json.loads(ws.ok("key", "list", "--json").out)
    assert len(rows) == 3
    assert rows[1]["key_id"] == cert["key_id"] and rows[1]["products"] == [PRODUCT]
    assert "acme-cad" in ws.ok("key", "list").out

    # New licenses for the product use the newest key; other products fall back to the first key.
    ws.issue("cad.lic", "--type", "perpetual")
    ws.issue("other.lic", "--type", "perpetual", product="other")
    assert ws.verify("cad.lic").certificate.key_id.hex() == cert["key_id"]
    assert ws.verify("cad.lic").certificate.products == (PRODUCT,)
    assert ws.verify("other.lic", product="other").certificate.key_id.hex() == rows[2]["key_id"]


def test_newest_issuing_key_signs_even_when_created_in_the_same_second(
    ws: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # BUG: Ledger.issuing_key_for (licsign/_ledger/__init__.py, "ORDER BY created_at DESC, key_id")
    # breaks ties between keys created in the same second by the random key id, not by
    # insertion order, so "new licenses use the newest one" holds only by chance.
    # Keys are added at one fixed instant until the newest no longer has the smallest
    # id among them (which takes 2 keys half the time); then the newest must sign.
    import licsign.cli.keys
    import licsign.cli.licenses

    instant = datetime.now(timezone.utc).replace(microsecond=0)
    monkeypatch.setattr(licsign.cli.keys, "now_utc", lambda: instant)
    ids: list[str] = []
    for _ in range(20):
        ids.append(json.loads(ws.ok("key", "new-issuing", "--json").out)["key_id"])
        if len(ids) > 1 and ids[-1] != min(ids):
            break
    monkeypatch.setattr(licsign.cli.licenses, "now_utc", lambda: instant + timedelta(seconds=1))
    ws.issue("a.lic", "--type", "perpetual")
    lic = ws.verify("a.lic", now=instant + timedelta(days=1))
    assert lic.certificate.key_id.hex() == ids[-1]


def test_key_new_issuing_text(ws: Cli) -> None:
    result = ws.ok("key", "new-issuing", "--validity", "2y")
    assert result.out.startswith("Issuing key ") and " valid until " in result.out
    assert "opening the root key" in result.err


def test_key_new_issuing_for_an_unknown_product_is_refused(ws: Cli) -> None:
    before = ledger_bytes(ws)
    line = ws.fails(1, "key", "new-issuing", "--product", "nope")
    assert "unknown product 'nope'" in line
    assert ledger_bytes(ws) == before


def test_key_new_issuing_with_a_wrong_passphrase_is_refused(ws: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "not the right passphrase")
    before = snapshot(ws.home)
    line = ws.fails(1, "key", "new-issuing")
    assert "wrong passphrase" in line
    assert snapshot(ws.home) == before


@pytest.mark.parametrize("fmt", ["pem", "raw", "python", "hex"])
def test_export_public_formats_read_back_to_the_root_key(ws: Cli, fmt: str) -> None:
    target = ws.tmp / f"exported.{fmt}"
    result = ws.ok("key", "export-public", "--format", fmt, "-o", str(target))
    assert result.out == ""
    assert f"Wrote root public key ({fmt})" in result.err
    assert licverify.load_public_keys(target.read_bytes()) == [ws.root]
    assert ws.root == Workspace(str(ws.home)).root_public_key()
    if fmt == "raw":
        assert target.read_bytes() == ws.root
    if fmt == "python":
        import runpy

        assert runpy.run_path(str(target))["TRUSTED_ROOTS"] == [ws.root]
        assert "Acme Inc." in target.read_text()
    if fmt == "hex":
        assert target.read_text() == ws.root.hex() + "\n"


@pytest.mark.parametrize("fmt", ["pem", "python", "hex"])
def test_export_public_text_formats_to_stdout(ws: Cli, fmt: str) -> None:
    result = ws.ok("key", "export-public", "--format", fmt)
    assert licverify.load_public_keys(result.out.encode()) == [ws.root]
    assert result.err == ""


def test_export_public_pem_is_the_default(ws: Cli) -> None:
    assert ws.ok("key", "export-public").out == ws.root_pem.read_text()
    assert ws.root_pem.read_text().startswith("-----BEGIN PUBLIC KEY-----\n")


def test_export_public_raw_to_stdout_is_refused(ws: Cli) -> None:
    line = ws.fails(2, "key", "export-public", "--format", "raw")
    assert "-o FILE" in line


def test_export_public_does_not_replace_a_file_without_force(ws: Cli) -> None:
    target = ws.tmp / "keep.pem"
    target.write_text("mine\n")
    line = ws.fails(2, "key", "export-public", "-o", str(target))
    assert "already exists" in line
    assert target.read_text() == "mine\n"
    ws.ok("key", "export-public", "-o", str(target), "--force")
    assert licverify.load_public_keys(target.read_bytes()) == [ws.root]


# --- products and customers -------------------------------------------------------------------


def test_product_add_and_list(ws: Cli) -> None:
    assert ws.ok("product", "add", "beta-tool", "--feature", "x").out == "Added product beta-tool\n"
    rows = json.loads(ws.ok("product", "list", "--json").out)
    policy = {"min_components": 2, "required_components": ["machine-id"]}
    assert rows == [
        {"id": PRODUCT, "name": "Acme CAD", "features": list(FEATURES), **policy},
        {"id": "beta-tool", "name": "beta-tool", "features": ["x"], **policy},
        {"id": "other", "name": "other", "features": [], **policy},
    ]
    lines = ws.ok("product", "list").out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "FEATURES", "FINGERPRINT"]
    assert lines[1].split()[0] == PRODUCT and ",".join(FEATURES) in lines[1].split()
    assert lines[3].split() == ["other", "other", "-", "2+", "incl.", "machine-id"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["product", "add", ".bad"], 2, "PRODUCT_ID"),
        (["product", "add", "has space"], 2, "PRODUCT_ID"),
        (["product", "add", "x" * 65], 2, "PRODUCT_ID"),
        (["product", "add", "ok", "--feature", "bad feature"], 2, "--feature"),
        (["product", "add", PRODUCT], 1, "already exists"),
    ],
)
def test_product_add_refusals(ws: Cli, args: list[str], code: int, message: str) -> None:
    before = ledger_bytes(ws)
    assert message in ws.fails(code, *args)
    assert ledger_bytes(ws) == before


def test_customer_add_and_list(ws: Cli) -> None:
    ws.ok("customer", "add", "initech")
    rows = json.loads(ws.ok("customer", "list", "--json").out)
    assert rows == [
        {"id": "globex", "name": "Globex Corp", "email": "it@globex.example"},
        {"id": "initech", "name": "initech", "email": None},
    ]
    lines = ws.ok("customer", "list").out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "EMAIL"]
    assert lines[1].split() == ["globex", "Globex", "Corp", "it@globex.example"]
    assert lines[2].split() == ["initech", "initech", "-"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["customer", "add", "bad/id"], 2, "CUSTOMER_ID"),
        (["customer", "add", "_x"], 2, "CUSTOMER_ID"),
        (["customer", "add", "initech", "--email", "not-an-address"], 2, "e-mail"),
        (["customer", "add", "initech", "--email", "a" * 250 + "@b.cd"], 2, "e-mail"),
        (["customer", "add", "globex"], 1, "already exists"),
    ],
)
def test_customer_add_refusals(ws: Cli, args: list[str], code: int, message: str) -> None:
    before = ledger_bytes(ws)
    assert message in ws.fails(code, *args)
    assert ledger_bytes(ws) == before


def test_customer_email_with_a_line_break_is_refused(ws: Cli) -> None:
    # BUG (minor): the e-mail check is only '"@" in email', so "a\n@b" is stored and
    # 'customer list' then prints a row split over two lines.
    before = ledger_bytes(ws)
    ws.fails(2, "customer", "add", "initech", "--email", "ops\n@initech.example")
    assert ledger_bytes(ws) == before


def test_empty_lists(cli: Cli) -> None:
    cli.ok("init")
    assert json.loads(cli.ok("product", "list", "--json").out) == []
    assert json.loads(cli.ok("customer", "list", "--json").out) == []
    assert cli.ok("product", "list").out == ""
    assert json.loads(cli.ok("list", "--json").out) == []
    result = cli.ok("list")
    assert result.out == "" and "No licenses yet" in result.err


# --- issue ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("license_type", "args"),
    [
        ("perpetual", []),
        ("time-limited", ["--expires", "2099-06-30"]),
        ("subscription", ["--duration", "365d"]),
        ("trial", []),
        ("consumption", ["--counter", "pages=1000"]),
        ("floating", []),
    ],
)
def test_issue_every_type(ws: Cli, license_type: str, args: list[str]) -> None:
    license_id = ws.issue("a.lic", "--type", license_type, *args)
    if license_type == "floating":  # a lease needs the activation exchange (issue 6)
        with pytest.raises(licverify.NotActivated):
            ws.verify("a.lic")
    lic = ws.verify("a.lic", importing=True)
    assert lic.id == license_id and lic.type == license_type
    assert lic.product == PRODUCT and lic.customer == "globex" and lic.issuer == "Acme Inc."
    assert lic.status is licverify.Status.VALID
    assert (ws.tmp / "a.lic").read_bytes().startswith(b"-----BEGIN LICSIGN LICENSE-----\n")
    if license_type == "perpetual":
        assert lic.expires is None and lic.lease is None
    if license_type == "time-limited":
        assert lic.expires == datetime(2099, 6, 30, tzinfo=timezone.utc)
    if license_type == "subscription":
        assert lic.expires - lic.issued_at == timedelta(days=365)
    if license_type == "trial":  # trials default to 30 days
        assert lic.expires - lic.issued_at == timedelta(days=30)
    if license_type == "consumption":
        assert lic.counters["pages"] == licverify.Counter(1000, 0)
    if license_type == "floating":  # floating licenses default to a one-hour lease
        assert lic.lease == timedelta(hours=1)


def test_issue_with_every_option(ws: Cli) -> None:
    fp = licverify.machine_fingerprint(PRODUCT, machine_id="x")
    device = licverify.format_fingerprint(fp)
    (ws.tmp / "full.lic").write_text("old contents\n")
    result = ws.ok(
        "issue", "--product", PRODUCT, "--customer", "globex", "--type", "floating",
        "--expires", "2099-01-31T12:00:00Z", "--not-before", "2020-05-01", "--grace", "14d",
        "--max-devices", "5", "--max-users", "3", "--max-devices-per-user", "2", "--max-transfers", "4",
        "--user", "ann@globex.example", "--user", "bob@globex.example",
        "--device", device, "--device-match", "most",
        "--feature", "export", "--feature", "seats=25", "--feature", "beta=true",
        "--feature", "plugin=false", "--feature", "tier=gold",
        "--counter", "pages=1000", "--counter", "renders=50+10",
        "--lease", "15min", "--max-version", "2.9", "--maintenance-end", "2098-12-31",
        "--meta", "order=PO-1234", "--meta", "note=renewal",
        "-o", str(ws.tmp / "full.lic"), "--force", "--json",
    )  # fmt: skip
    printed = json.loads(result.out)
    lic = ws.verify("full.lic", fingerprint=fp, now=datetime(2050, 1, 1, tzinfo=timezone.utc), importing=True)
    assert printed["activation_required"] is True
    expected = {k: v for k, v in lic.to_json().items() if k not in ("status", "grace_days_left", "key_id", "digest", "activation")}
    assert printed == expected

    assert lic.type == "floating"
    assert lic.not_before == datetime(2020, 5, 1, tzinfo=timezone.utc)
    assert lic.expires == datetime(2099, 1, 31, 12, tzinfo=timezone.utc)
    assert lic.grace == timedelta(days=14)
    assert dict(lic.features) == {"export": None, "seats": 25, "beta": True, "plugin": False, "tier": "gold"}
    assert lic.limits == licverify.Limits(5, 3, 2, 4)
    assert lic.allowed_users == ("ann@globex.example", "bob@globex.example")
    assert [dict(d) for d in lic.allowed_devices] == [dict(fp)]
    assert lic.device_match == "most"
    assert lic.activation_required is True  # implied by the limits, users and lease
    assert dict(lic.counters) == {"pages": licverify.Counter(1000, 0), "renders": licverify.Counter(50, 10)}
    assert lic.lease == timedelta(minutes=15)
    assert lic.max_version == "2.9"
    assert lic.maintenance_end == datetime(2098, 12, 31, tzinfo=timezone.utc)
    assert dict(lic.metadata) == {"order": "PO-1234", "note": "renewal"}

    # The terms are enforced, not just carried.
    at = datetime(2050, 1, 1, tzinfo=timezone.utc)
    with pytest.raises(licverify.VersionNotAllowed):
        ws.verify("full.lic", fingerprint=fp, app_version="3.0", now=at)
    with pytest.raises(licverify.VersionNotAllowed):
        ws.verify("full.lic", fingerprint=fp, app_release_date=datetime(2099, 1, 1, tzinfo=timezone.utc), now=at)
    with pytest.raises(licverify.WrongMachine):  # "most": one changed component is tolerated, all are not
        ws.verify("full.lic", fingerprint={name: bytes(16) for name in fp}, now=at)
    grace = ws.verify("full.lic", fingerprint=fp, now=datetime(2099, 2, 3, tzinfo=timezone.utc), importing=True)
    assert grace.status is licverify.Status.GRACE


def test_issue_device_match_count(ws: Cli) -> None:
    fp = licverify.machine_fingerprint(PRODUCT, machine_id="x")
    assert len(fp) >= 2, "this test needs a second fingerprint component besides machine-id"
    ws.issue("one.lic", "--type", "perpetual", "--device", licverify.format_fingerprint(fp), "--device-match", "1")
    ws.issue("all.lic", "--type", "perpetual", "--device", licverify.format_fingerprint(fp))
    moved = dict(fp, **{"machine-id": licverify.machine_fingerprint(PRODUCT, machine_id="y")["machine-id"]})
    assert ws.verify("one.lic", fingerprint=moved).device_match == 1
    assert ws.verify("all.lic", fingerprint=fp).device_match == "all"
    with pytest.raises(licverify.WrongMachine):
        ws.verify("all.lic", fingerprint=moved)
    with pytest.raises(licverify.WrongMachine):
        ws.verify("all.lic")


def test_issue_require_activation(ws: Cli) -> None:
    ws.issue("act.lic", "--type", "perpetual", "--require-activation")
    with pytest.raises(licverify.NotActivated):
        ws.verify("act.lic")
    report = licverify.inspect_document((ws.tmp / "act.lic").read_bytes(), trusted_roots=[ws.root])
    assert report.fields["activation_required"] is True
    assert report.verdict == "not-activated"


def test_issue_duration_counts_from_not_before(ws: Cli) -> None:
    ws.issue("s.lic", "--type", "subscription", "--not-before", "2090-01-01", "--duration", "2w", "--grace", "3d")
    lic = ws.verify("s.lic", now=datetime(2090, 1, 2, tzinfo=timezone.utc))
    assert lic.not_before == datetime(2090, 1, 1, tzinfo=timezone.utc)
    assert lic.expires == datetime(2090, 1, 15, tzinfo=timezone.utc)
    assert lic.grace == timedelta(days=3)
    with pytest.raises(licverify.NotYetValid):
        ws.verify("s.lic")


def test_issue_counter_with_overage_and_text_feature_default(ws: Cli) -> None:
    ws.issue("c.lic", "--type", "consumption", "--counter", "pages=0+5", "--counter", "api.calls=10")
    lic = ws.verify("c.lic")
    assert dict(lic.counters) == {"pages": licverify.Counter(0, 5), "api.calls": licverify.Counter(10, 0)}


def test_issue_binary(ws: Cli) -> None:
    license_id = ws.issue("b.lic", "--type", "perpetual", "--binary")
    data = (ws.tmp / "b.lic").read_bytes()
    assert not data.startswith(b"-----BEGIN")
    assert dearmor(data) == (data, None)
    lic = ws.verify("b.lic")
    assert lic.id == license_id and lic.document == data
    ws.ok("show", license_id, "--export", str(ws.tmp / "again.lic"))
    assert (ws.tmp / "again.lic").read_bytes() == armor(data, LICENSE)


def test_issue_to_stdout(ws: Cli) -> None:
    result = ws.ok("issue", "--product", PRODUCT, "--customer", "globex", "--type", "perpetual", "-o", "-")
    assert result.out.startswith("-----BEGIN LICSIGN LICENSE-----\n")
    assert result.out.endswith("-----END LICSIGN LICENSE-----\n")
    lic = licverify.verify_license(
        result.out.encode(), trusted_roots=[ws.root], product=PRODUCT, now=datetime.now(timezone.utc)
    )
    rows = json.loads(ws.ok("list", "--json").out)
    assert [r["id"] for r in rows] == [lic.id]
    assert sorted(os.listdir(ws.tmp)) == ["root.pem", "ws"]


def test_issue_binary_to_stdout(unsafe_fast_kdf: dict[str, int], monkeypatch: pytest.MonkeyPatch,
                                tmp_path: Path, capsysbinary: Any) -> None:  # fmt: skip
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "ws"))
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    run = Cli(capsysbinary, tmp_path / "ws", tmp_path)
    for args in (["init"], ["product", "add", PRODUCT], ["customer", "add", "globex"]):
        assert run(*args).code == 0
    root = Workspace(str(tmp_path / "ws")).root_public_key()
    result = run("issue", "--product", PRODUCT, "--customer", "globex", "--type", "perpetual", "--binary", "-o", "-")
    assert result.code == 0
    assert not result.out.startswith(b"-----")
    lic = licverify.verify_license(result.out, trusted_roots=[root], product=PRODUCT, now=datetime.now(timezone.utc))
    assert lic.document == result.out


def test_issue_refuses_to_replace_a_file_without_force(ws: Cli) -> None:
    first = ws.issue("a.lic", "--type", "perpetual")
    contents = (ws.tmp / "a.lic").read_bytes()
    before = ledger_bytes(ws)
    line = ws.fails(2, "issue", "--product", PRODUCT, "--customer", "globex", "--type", "perpetual",
                    "-o", str(ws.tmp / "a.lic"))  # fmt: skip
    assert "already exists" in line and "--force" in line
    assert (ws.tmp / "a.lic").read_bytes() == contents
    assert ledger_bytes(ws) == before
    second = ws.issue("a.lic", "--type", "perpetual", "--force")
    assert second != first
    assert ws.verify("a.lic").id == second


def test_issue_json_to_file(ws: Cli) -> None:
    result = ws.ok("issue", "--product", PRODUCT, "--customer", "globex", "--type", "trial", "--duration", "7d",
                   "-o", str(ws.tmp / "t.lic"), "--json")  # fmt: skip
    data = json.loads(result.out)
    lic = ws.verify("t.lic")
    assert data["id"] == lic.id and data["type"] == "trial"
    assert data["expires"] == f"{lic.expires:%Y-%m-%dT%H:%M:%SZ}"
    assert lic.expires - lic.issued_at == timedelta(days=7)


# --- list and show ----------------------------------------------------------------------------


def test_list_with_filters_and_json(ws: Cli) -> None:
    ws.ok("customer", "add", "initech")
    a = ws.issue("a.lic", "--type", "perpetual")
    b = ws.issue("b.lic", "--type", "subscription", "--duration", "30d", product="other")
    c = ws.ok("issue", "--product", PRODUCT, "--customer", "initech", "--type", "time-limited",
              "--not-before", "2090-01-01", "--expires", "2091-01-01", "-o", str(ws.tmp / "c.lic")).out.split()[2]  # fmt: skip

    rows = json.loads(ws.ok("list", "--json").out)
    assert {r["id"] for r in rows} == {a, b, c}
    by_id = {r["id"]: r for r in rows}
    assert by_id[a]["status"] == "active" and by_id[a]["expires"] is None and by_id[a]["type"] == "perpetual"
    assert by_id[b]["product"] == "other" and by_id[b]["customer"] == "globex"
    assert by_id[c]["status"] == "not-yet-valid" and by_id[c]["expires"] == "2091-01-01T00:00:00Z"

    assert {r["id"] for r in json.loads(ws.ok("list", "--product", PRODUCT, "--json").out)} == {a, c}
    assert {r["id"] for r in json.loads(ws.ok("list", "--customer", "globex", "--json").out)} == {a, b}
    assert [r["id"] for r in json.loads(ws.ok("list", "--product", "other", "--customer", "initech", "--json").out)] == []

    lines = ws.ok("list", "--customer", "initech").out.splitlines()
    assert lines[0].split() == ["ID", "PRODUCT", "CUSTOMER", "TYPE", "STATUS", "EXPIRES"]
    assert lines[1].split() == [c, PRODUCT, "initech", "time-limited", "not-yet-valid", "2091-01-01T00:00:00Z"]
    assert "never" in ws.ok("list", "--product", PRODUCT, "--customer", "globex").out


def test_show_text_json_and_export(ws: Cli) -> None:
    license_id = ws.issue("a.lic", "--type", "subscription", "--duration", "30d", "--grace", "14d",
                          "--feature", "seats=5", "--feature", "export", "--max-devices", "3",
                          "--user", "ann@globex.example", "--counter", "pages=10+2")  # fmt: skip
    text = ws.ok("show", license_id).out
    assert f"License:     {license_id} (version 1)" in text
    for expected in ("Status:      active", f"Product:     {PRODUCT}", "Customer:    globex",
                     "Type:        subscription", "Grace:       14 days", "Features:    export, seats=5",
                     "Limits:      devices=3", "Users:       ann@globex.example", "Bound to:    no device list",
                     "Activation:  required", "Counters:    pages=10+2", "History:", "license.issued"):  # fmt: skip
        assert expected in text

    info = json.loads(ws.ok("show", license_id, "--json").out)
    lic = ws.verify("a.lic", importing=True)
    assert info["status"] == "active"
    assert info["terms"]["id"] == license_id and info["terms"]["features"] == {"seats": 5, "export": None}
    assert info["key_id"] == lic.certificate.key_id.hex()
    assert info["digest"] == lic.digest
    assert [h["event"] for h in info["history"]] == ["license.issued"]
    assert info["history"][0]["digest"] == lic.digest

    ws.ok("show", license_id, "--export", str(ws.tmp / "copy.lic"))
    assert (ws.tmp / "copy.lic").read_bytes() == (ws.tmp / "a.lic").read_bytes()
    line = ws.fails(2, "show", license_id, "--export", str(ws.tmp / "copy.lic"))
    assert "already exists" in line
    ws.ok("show", license_id, "--export", str(ws.tmp / "copy.lic"), "--force", "--json")


def test_show_unknown_license(ws: Cli) -> None:
    assert "unknown license 'L-NOPE'" in ws.fails(1, "show", "L-NOPE")


# --- inspect ----------------------------------------------------------------------------------


def tamper(data: bytes) -> bytes:
    """Change one base64 character in the middle of an armored document."""
    lines = data.split(b"\n")
    middle = lines[len(lines) // 2]
    i = len(middle) // 2
    lines[len(lines) // 2] = middle[:i] + (b"B" if middle[i:i + 1] != b"B" else b"C") + middle[i + 1:]
    return b"\n".join(lines)


def test_inspect_a_valid_license_with_the_workspace_root(ws: Cli) -> None:
    license_id = ws.issue("a.lic", "--type", "perpetual", "--feature", "seats=5")
    result = ws.ok("inspect", str(ws.tmp / "a.lic"))
    assert "Kind:     license (armored)" in result.out
    assert "Verdict:  valid" in result.out
    assert f"id: {license_id}" in result.out
    assert "[ok  ] signature" in result.out
    assert "[FAIL]" not in result.out


def test_inspect_json_and_product(ws: Cli) -> None:
    ws.issue("a.lic", "--type", "perpetual")
    report = json.loads(ws.ok("inspect", str(ws.tmp / "a.lic"), "--json", "--product", PRODUCT).out)
    assert report["kind"] == "license" and report["armored"] is True and report["verdict"] == "valid"
    assert {c["name"]: c["result"] for c in report["checks"]}["product"] == "pass"
    assert report["fields"]["product"] == PRODUCT

    result = ws("inspect", str(ws.tmp / "a.lic"), "--json", "--product", "other")
    assert result.code == 1 and result.err == ""
    assert json.loads(result.out)["verdict"] == "wrong-product"


def test_inspect_a_tampered_license_fails(ws: Cli) -> None:
    ws.issue("a.lic", "--type", "perpetual")
    (ws.tmp / "bad.lic").write_bytes(tamper((ws.tmp / "a.lic").read_bytes()))
    result = ws("inspect", str(ws.tmp / "bad.lic"))
    assert result.code == 1 and result.err == ""
    assert "Verdict:  valid" not in result.out
    assert "[FAIL]" in result.out
    report = json.loads(ws("inspect", str(ws.tmp / "bad.lic"), "--json").out)
    assert report["verdict"] in ("malformed", "bad-signature")


def test_inspect_with_trust(ws: Cli) -> None:
    ws.issue("a.lic", "--type", "perpetual")
    assert "Verdict:  valid" in ws.ok("inspect", str(ws.tmp / "a.lic"), "--trust", str(ws.root_pem)).out
    (ws.tmp / "other.hex").write_text(public(OTHER_ROOT).hex() + "\n")
    result = ws("inspect", str(ws.tmp / "a.lic"), "--trust", str(ws.tmp / "other.hex"))
    assert result.code == 1
    assert "Verdict:  untrusted-key" in result.out


def test_inspect_at_a_date(ws: Cli) -> None:
    ws.issue("a.lic", "--type", "time-limited", "--expires", "2090-01-01", "--grace", "10d")
    grace = json.loads(ws.ok("inspect", str(ws.tmp / "a.lic"), "--at", "2090-01-05", "--json").out)
    assert grace["verdict"] == "grace"
    result = ws("inspect", str(ws.tmp / "a.lic"), "--at", "2090-02-01")
    assert result.code == 1 and "Verdict:  expired" in result.out


def test_inspect_outside_a_workspace_is_unverified(ws: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    ws.issue("a.lic", "--type", "perpetual")
    monkeypatch.setenv(HOME_ENV, str(ws.tmp / "no-workspace"))
    result = ws("inspect", str(ws.tmp / "a.lic"))
    assert result.code == 1
    assert "Verdict:  unverified" in result.out
    assert "[skip] signature" in result.out
    assert not (ws.tmp / "no-workspace").exists()


def test_inspect_a_certificate_from_the_workspace(ws: Cli) -> None:
    (cert,) = [name for name in os.listdir(ws.home / "keys") if name.endswith(".cert")]
    result = ws.ok("inspect", str(ws.home / "keys" / cert))
    assert "Kind:     issuing-key-certificate (armored)" in result.out
    assert "Verdict:  valid" in result.out
    report = json.loads(ws.ok("inspect", str(ws.home / "keys" / cert), "--json").out)
    assert report["fields"]["key_id"] == cert[len("issuing-"):-len(".cert")]
    assert report["key_id"] == licverify.format.key_id(ws.root).hex()
