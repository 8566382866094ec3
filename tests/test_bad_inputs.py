"""Bad inputs to the command lines: one clear line, the right exit status, no side effects.

Exit statuses observed and asserted here (licverify/cliutil.py run_click):

* 2, usage or input error: a file that is missing, empty, a directory, a
  symbolic link, a FIFO or too large; a trust file or passphrase file that
  cannot be used; a malformed date, duration, counter, feature, device or
  fingerprint; contradictory terms; an output file that already exists
  (``issue`` only) or cannot be written; a workspace that is not one.
* 1, refused or invalid: the document was read and is not valid (check and
  inspect print their verdict on stdout instead of an error line); a wrong
  passphrase; an unknown product, customer or license (``not-found``); an
  output file that already exists for ``key export-public`` and
  ``show --export`` (``already-exists``).
* 0: ``inspect`` explains any document, so a valid certificate passes it.

After every failure the ledger's bytes, the workspace listing (names, sizes,
mtimes) and everything else under the test directory are unchanged, and no
output file appears.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from harness import CLI_PASSPHRASE, PRODUCT, Result, Site, deadline, error_line_after_progress, tree

from licsign.cli import PASSPHRASE_ENV
from licverify._errors import ERROR_CODES

ANY = "*"  # any verdict code the verifier defines, except the catch-all


class Expect(NamedTuple):
    """Exit status, and the verdict code if the command reports one instead of an error line."""

    code: int
    verdict: str | None = None
    message: str = ""


E2 = Expect(2)
WRONG_PASSPHRASE = Expect(1, message="wrong passphrase")
OK = Expect(0)


def V(code: str) -> Expect:
    return Expect(1, code)


class Env(Site):
    """The harness Site over the copied starting state (see ``env``), and the files the sweep uses."""

    def __init__(self, capsys: Any, tmp: Path, **site: Any) -> None:
        super().__init__(capsys, tmp, **site)
        self.inputs = tmp / "in"
        self.outputs = tmp / "out"
        self.good = tmp / "good.lic"
        self.other = tmp / "other.lic"
        self.passfile = tmp / "pass.txt"
        self.out = self.outputs / "new.out"
        self.good_id = ""

    def run(self, prog: str, args: list[str]) -> Result:
        return self.licsign(*args) if prog == "licsign" else self.licverify(*args)

    def issue_args(self, *extra: str) -> list[str]:
        return ["issue", "--product", PRODUCT, "--customer", "globex", "--type", "perpetual",
                *extra, "-o", str(self.out)]  # fmt: skip


@pytest.fixture(autouse=True)
def no_hang() -> Iterator[None]:
    """A command that opened a FIFO would block forever; fail the test instead."""
    with deadline(30):
        yield


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the first test builds the starting state that every test then copies."""
    return tmp_path_factory.mktemp("template")


def _build(tmp: Path, capsys: Any, patch: pytest.MonkeyPatch) -> None:
    """Through the CLI: the harness site, a second product, a license for each, a passphrase file."""
    e = Env.create(patch, tmp, capsys, passphrase=CLI_PASSPHRASE, customer_env=False)
    e.vendor_ok("product", "add", "other")
    out = e.vendor_ok("issue", "--product", PRODUCT, "--customer", "globex", "--type", "perpetual",
                      "-o", str(e.good)).out  # fmt: skip
    (e.tmp / "good.id").write_text(out.split()[2])
    e.vendor_ok("issue", "--product", "other", "--customer", "globex", "--type", "perpetual", "-o", str(e.other))
    e.passfile.write_text(CLI_PASSPHRASE + "\n")
    e.inputs.mkdir()
    e.outputs.mkdir()


@pytest.fixture
def env(unsafe_fast_kdf: dict[str, int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any,
        template: Path) -> Env:  # fmt: skip
    """A workspace with two products, a customer, two licenses and the exported root key.

    Built once through the CLI (with the cheap test KDF), then copied with its
    mtimes for each test (so on SQLite only: a copied directory holds the whole
    ledger). No passphrase in the environment: commands that need one get
    --passphrase-file; no trust root or product either.
    """
    e = Env(capsys, tmp_path)
    e.isolate(monkeypatch)
    if not (template / "good.id").exists():
        with monkeypatch.context() as build:
            _build(template, capsys, build)
    shutil.copytree(template, tmp_path, symlinks=True, dirs_exist_ok=True)
    e.good_id = (tmp_path / "good.id").read_text()
    return e


# --- the bad inputs -----------------------------------------------------------------------------


def _tamper(data: bytes) -> bytes:
    """Change one base64 character, inside the signature (20 characters from the end)."""
    lines = data.strip().split(b"\n")
    body = bytearray(b"".join(lines[1:-1]))
    body[-20] = ord("A") if body[-20] != ord("A") else ord("B")
    wrapped = [bytes(body[i : i + 64]) for i in range(0, len(body), 64)]
    return b"\n".join([lines[0], *wrapped, lines[-1]]) + b"\n"


def make_input(kind: str, e: Env) -> Path:
    path = e.inputs / kind
    good = e.good.read_bytes()
    if kind == "missing":
        return path
    if kind == "directory":
        path.mkdir()
    elif kind == "symlink":
        path.symlink_to(e.good)
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        rng = random.Random(kind)
        data = {
            "empty": lambda: b"",
            "truncated": lambda: good[: len(good) // 2],
            "tampered": lambda: _tamper(good),
            # A valid license padded with blank lines to 200 KiB: only the size is wrong.
            "oversized": lambda: good + b"\n" * (200 * 1024),
            "garbage": lambda: b"\x89\xfe" + rng.randbytes(510),
            "text": lambda: " ".join(rng.choice(["lorem", "ipsum", "dolor", "sit", "amet"]) for _ in range(80)).encode(),
            "certificate": lambda: next((e.home / "keys").glob("*.cert")).read_bytes(),
            "other-product": lambda: e.other.read_bytes(),
        }[kind]()
        path.write_bytes(data)
    return path


INPUTS = ["missing", "empty", "directory", "symlink", "fifo", "truncated", "tampered", "oversized",
          "garbage", "text", "certificate", "other-product"]  # fmt: skip

#: How each command is given the bad file.
COMMANDS: dict[str, Callable[[Env, str], tuple[str, list[str]]]] = {
    "licsign inspect": lambda e, p: ("licsign", ["inspect", p, "--product", PRODUCT]),
    "licsign inspect --trust": lambda e, p: ("licsign", ["inspect", str(e.good), "--trust", p]),
    "licsign issue --passphrase-file": lambda e, p: ("licsign", ["--passphrase-file", p, *e.issue_args()]),
    "licverify check": lambda e, p: ("licverify", ["check", p, "--trust", str(e.trust), "--product", PRODUCT]),
    "licverify check --trust": lambda e, p: ("licverify", ["check", str(e.good), "--trust", p, "--product", PRODUCT]),
    "licverify inspect": lambda e, p: ("licverify", ["inspect", p, "--trust", str(e.trust), "--product", PRODUCT]),
    "licsign key export-public --home": lambda e, p: ("licsign", ["--home", p, "key", "export-public", "-o", str(e.out)]),
    "licsign usage import": lambda e, p: ("licsign", ["usage", "import", p]),
}

_UNREADABLE = {kind: E2 for kind in ("missing", "empty", "directory", "symlink", "fifo", "oversized")}
_DOCUMENT = dict(_UNREADABLE, truncated=V("malformed"), tampered=V("bad-signature"), garbage=V(ANY), text=V(ANY),
                 **{"other-product": V("wrong-product")})  # fmt: skip
_ALL_E2 = {kind: E2 for kind in INPUTS}

MATRIX: dict[str, dict[str, Expect]] = {
    "licsign inspect": dict(_DOCUMENT, certificate=OK),
    "licsign inspect --trust": _ALL_E2,
    # Any readable first line of UTF-8 text is a passphrase; it is simply the wrong one.
    # A first line that is not UTF-8 is refused without echoing any of its bytes.
    "licsign issue --passphrase-file": dict(_UNREADABLE, **{k: WRONG_PASSPHRASE for k in INPUTS if k not in _UNREADABLE}
                                            | {"garbage": Expect(2, message="not valid UTF-8")}),
    "licverify check": dict(_DOCUMENT, certificate=V("wrong-kind")),
    "licverify check --trust": _ALL_E2,
    "licverify inspect": dict(_DOCUMENT, certificate=OK),
    "licsign key export-public --home": _ALL_E2,
    # Not a usage report (a license, a certificate, bytes): refused, one line, exit 1.
    "licsign usage import": dict(_UNREADABLE, **{k: Expect(1) for k in INPUTS if k not in _UNREADABLE}),
}


def expect_unchanged(e: Env, run: Callable[[], tuple[int, str, str]]) -> tuple[int, str, str]:
    """Run, and assert that nothing on disk changed (ledger, workspace, test directory)."""
    ledger, workspace, everything = e.ledger(), tree(e.home), tree(e.tmp)
    code, out, err = run()
    assert "Traceback" not in out + err
    assert e.ledger() == ledger
    assert tree(e.home) == workspace
    assert tree(e.tmp) == everything
    assert not os.path.lexists(e.out)
    return code, out, err


def assert_outcome(prog: str, args: list[str], expect: Expect, code: int, out: str, err: str) -> None:
    assert code == expect.code, (args, out, err)
    if expect.code == 0:
        return
    if expect.verdict is None:
        # One error line on stderr (progress lines "... " aside), nothing on stdout.
        assert expect.message in error_line_after_progress(Result(code, out, err), prog, expect.code)
        return
    assert err == ""
    if args[0] == "check":
        assert out.count("\n") == 1 and out.startswith("NOT VALID: ")
        verdict = out.split(":")[1].strip()
    else:
        verdict = next(line for line in out.splitlines() if line.startswith("Verdict:")).split()[1]
    if expect.verdict == ANY:
        assert verdict in ERROR_CODES and verdict not in ("license-error", "internal-error")
    else:
        assert verdict == expect.verdict


@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_bad_file(env: Env, command: str, kind: str) -> None:
    path = make_input(kind, env)
    prog, args = COMMANDS[command](env, str(path))
    code, out, err = expect_unchanged(env, lambda: env.run(prog, args))
    assert_outcome(prog, args, MATRIX[command][kind], code, out, err)


# --- bad options and arguments ------------------------------------------------------------------

BAD_DATE = "2027-13-45"


def issuing(*extra: str) -> Callable[[Env], list[str]]:
    """Arguments of a perpetual 'issue' with ``extra`` options."""
    return lambda e: e.issue_args(*extra)


#: (case id, program, arguments (a function of the environment), expected exit status, text in the message)
CASES: list[tuple[str, str, Callable[[Env], list[str]], int, str]] = [
    # passphrases
    ("wrong passphrase (issue)", "licsign", lambda e: ["--passphrase-file", str(e.inputs / "wrong"), *e.issue_args()], 1, "wrong passphrase"),
    ("wrong passphrase (new issuing key)", "licsign", lambda e: ["--passphrase-file", str(e.inputs / "wrong"), "key", "new-issuing"], 1, "wrong passphrase"),
    ("passphrase file missing", "licsign", lambda e: ["--passphrase-file", str(e.inputs / "nope"), *e.issue_args()], 2, "does not exist"),
    ("passphrase file first line empty", "licsign", lambda e: ["--passphrase-file", str(e.inputs / "blank-first"), *e.issue_args()], 2, "empty"),
    ("no passphrase at all", "licsign", lambda e: e.issue_args(), 2, PASSPHRASE_ENV),
    # malformed dates
    ("check --at", "licverify", lambda e: ["check", str(e.good), "--trust", str(e.trust), "--product", PRODUCT, "--at", BAD_DATE], 2, "--at"),
    ("licverify inspect --at", "licverify", lambda e: ["inspect", str(e.good), "--at", BAD_DATE], 2, "--at"),
    ("licsign inspect --at", "licsign", lambda e: ["inspect", str(e.good), "--at", BAD_DATE], 2, "--at"),
    ("issue --expires", "licsign", lambda e: e.issue_args("--expires", BAD_DATE), 2, "--expires"),
    ("issue --not-before", "licsign", lambda e: e.issue_args("--not-before", "tomorrow"), 2, "--not-before"),
    ("issue --maintenance-end", "licsign", lambda e: e.issue_args("--maintenance-end", "2027-02-30"), 2, "--maintenance-end"),
    ("issue --expires beyond 9999", "licsign", lambda e: ["issue", "--product", PRODUCT, "--customer", "globex", "--type", "time-limited", "--expires", "9999-12-31T23:00-05:00", "-o", str(e.out)], 2, "expires"),
    ("issue --expires in the past", "licsign", lambda e: ["issue", "--product", PRODUCT, "--customer", "globex", "--type", "time-limited", "--expires", "2001-01-01", "-o", str(e.out)], 2, "after the start"),
    ("issue --not-before 1960", "licsign", lambda e: e.issue_args("--not-before", "1960-01-01"), 2, "not-before"),
    # unknown ids
    ("unknown product", "licsign", lambda e: ["issue", "--product", "nope", "--customer", "globex", "--type", "perpetual", "-o", str(e.out)], 1, "unknown product 'nope'"),
    ("unknown customer", "licsign", lambda e: ["issue", "--product", PRODUCT, "--customer", "nope", "--type", "perpetual", "-o", str(e.out)], 1, "unknown customer 'nope'"),
    ("unknown license type", "licsign", lambda e: ["issue", "--product", PRODUCT, "--customer", "globex", "--type", "forever", "-o", str(e.out)], 2, "--type"),
    ("show unknown license", "licsign", lambda e: ["show", "L-0000-0000-0000"], 1, "unknown license"),
    ("new issuing key for unknown product", "licsign", lambda e: ["--passphrase-file", str(e.passfile), "key", "new-issuing", "--product", "nope"], 1, "unknown product"),
    # counters
    *[(f"--counter {v!r}", "licsign", issuing("--counter", v), 2, "--counter")
      for v in ["pages", "pages=", "=5", "pages=-1", "pages=1+", "pages=x", "pages=1+2+3", "bad name=5", "pages=1234567890123456789"]],
    # features
    ("--feature '=5'", "licsign", lambda e: e.issue_args("--feature", "=5"), 2, "--feature"),
    ("--feature with a space", "licsign", lambda e: e.issue_args("--feature", "bad name"), 2, "feature name"),
    ("--feature value too long", "licsign", lambda e: e.issue_args("--feature", "x=" + "v" * 300), 2, "feature"),
    # devices
    ("--device not a fingerprint", "licsign", lambda e: e.issue_args("--device", "laptop-7"), 2, "--device"),
    ("--device bad base64", "licsign", lambda e: e.issue_args("--device", "fp1.!!!!"), 2, "--device"),
    ("--device trailing bytes", "licsign", lambda e: e.issue_args("--device", "fp1.AAAA"), 2, "--device"),
    ("--device-match 0", "licsign", lambda e: e.issue_args("--device-match", "0"), 2, "--device-match"),
    ("--device-match 65", "licsign", lambda e: e.issue_args("--device-match", "65"), 2, "--device-match"),
    ("--device-match some", "licsign", lambda e: e.issue_args("--device-match", "some"), 2, "--device-match"),
    ("--device-match above the components", "licsign", lambda e: e.issue_args("--device", "fp1.oWptYWNoaW5lLWlkUAAAAAAAAAAAAAAAAAAAAAA", "--device-match", "5"), 2, "device_match"),
    # durations and contradictions
    ("--duration 10x", "licsign", lambda e: ["issue", "--product", PRODUCT, "--customer", "globex", "--type", "subscription", "--duration", "10x", "-o", str(e.out)], 2, "--duration"),
    ("--grace without expiry", "licsign", lambda e: e.issue_args("--grace", "7d"), 2, "grace"),
    ("--lease on perpetual", "licsign", lambda e: e.issue_args("--lease", "1h"), 2, "lease"),
    ("--lease too short", "licsign", lambda e: ["issue", "--product", PRODUCT, "--customer", "globex", "--type", "floating", "--lease", "30s", "-o", str(e.out)], 2, "lease"),
    ("--expires and --duration", "licsign", lambda e: ["issue", "--product", PRODUCT, "--customer", "globex", "--type", "subscription", "--expires", "2099-01-01", "--duration", "30d", "-o", str(e.out)], 2, "not both"),
    ("perpetual with --expires", "licsign", lambda e: e.issue_args("--expires", "2099-01-01"), 2, "perpetual"),
    ("subscription without expiry", "licsign", lambda e: ["issue", "--product", PRODUCT, "--customer", "globex", "--type", "subscription", "-o", str(e.out)], 2, "--expires or --duration"),
    ("consumption without counter", "licsign", lambda e: ["issue", "--product", PRODUCT, "--customer", "globex", "--type", "consumption", "-o", str(e.out)], 2, "--counter"),
    ("--max-devices -1", "licsign", lambda e: e.issue_args("--max-devices", "-1"), 2, "--max-devices"),
    ("--user repeated", "licsign", lambda e: e.issue_args("--user", "a@x", "--user", "a@x"), 2, "repeat"),
    ("--meta without value", "licsign", lambda e: e.issue_args("--meta", "novalue"), 2, "--meta"),
    ("--max-version v2", "licsign", lambda e: e.issue_args("--max-version", "v2"), 2, "--max-version"),
    # outputs
    ("issue over an existing file", "licsign", lambda e: ["--passphrase-file", str(e.passfile), "issue", "--product", PRODUCT, "--customer", "globex", "--type", "perpetual", "-o", str(e.good)], 2, "already exists"),
    ("export-public raw to stdout", "licsign", lambda e: ["key", "export-public", "--format", "raw"], 2, "-o FILE"),
    ("export-public over an existing file", "licsign", lambda e: ["key", "export-public", "-o", str(e.trust)], 2, "already exists"),
    ("export-public into a missing directory", "licsign", lambda e: ["key", "export-public", "-o", str(e.tmp / "nodir" / "root.pem")], 2, "does not exist"),
    ("export-public onto a directory", "licsign", lambda e: ["key", "export-public", "-o", str(e.outputs)], 2, "directory"),
    ("export-public onto a directory with --force", "licsign", lambda e: ["key", "export-public", "-o", str(e.outputs), "--force"], 2, "directory"),
    ("export-public --format pdf", "licsign", lambda e: ["key", "export-public", "--format", "pdf"], 2, "--format"),
    ("show --export over an existing file", "licsign", lambda e: ["show", e.good_id, "--export", str(e.good)], 2, "already exists"),
    # workspaces and commands
    ("not a workspace", "licsign", lambda e: ["--home", str(e.outputs), "list"], 2, "not a licsign workspace"),
    ("home is a file", "licsign", lambda e: ["--home", str(e.good), "list"], 2, "--home"),
    ("unknown command", "licsign", lambda e: ["frobnicate"], 2, "frobnicate"),
    ("unknown option", "licverify", lambda e: ["check", "--frob"], 2, "--frob"),
    ("licverify check without trust", "licverify", lambda e: ["check", str(e.good), "--product", PRODUCT], 2, "--trust"),
    ("licverify check --app-version", "licverify", lambda e: ["check", str(e.good), "--trust", str(e.trust), "--product", PRODUCT, "--app-version", "2.x"], 2, "app_version"),
    ("fingerprint without product", "licverify", lambda e: ["fingerprint"], 2, "--product"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "prog", "args", "code", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_option(env: Env, case: str, prog: str, args: Callable[[Env], list[str]], code: int, message: str) -> None:
    (env.inputs / "wrong").write_text("not the passphrase\n")
    (env.inputs / "blank-first").write_text("\n" + CLI_PASSPHRASE + "\n")
    argv = args(env)
    result = expect_unchanged(env, lambda: env.run(prog, argv))
    assert_outcome(prog, argv, Expect(code), *result)
    assert message in result[2]


# --- bugs found by this sweep (each test states the expected behaviour) --------------------------


@pytest.mark.parametrize(
    "where",
    ["missing directory", "existing directory with --force"],
)
def test_issue_to_an_unwritable_output_records_nothing(env: Env, where: str) -> None:
    # BUG: 'licsign issue' commits the ledger row (issue_license) before write_output, so an
    # output path that cannot be written fails with exit 2 *after* the license was recorded:
    # the ledger gains a license that no file holds. licsign/cli/licenses.py issue() should
    # check the output target (parent directory exists and is writable, target is not a
    # directory) before calling issue_license.
    target = env.tmp / "nodir" / "new.lic" if where == "missing directory" else env.outputs
    argv = ["--passphrase-file", str(env.passfile), "issue", "--product", PRODUCT, "--customer", "globex",
            "--type", "perpetual", "-o", str(target)] + (["--force"] if "force" in where else [])  # fmt: skip
    result = expect_unchanged(env, lambda: env.run("licsign", argv))
    assert_outcome("licsign", argv, E2, *result)


def test_init_with_an_unrepresentable_issuing_validity_creates_nothing(env: Env) -> None:
    # BUG: 'licsign init --issuing-validity 999999y' creates the directory, the ledger, the
    # root key and workspace.json, then fails encoding the certificate ("licsign: malformed:
    # certificate expiry must be a NumericDate", exit 1). The half-made workspace has no
    # issuing key and 'init' refuses to run again there. Expected: exit 2 before anything is
    # written (licsign/_workspace.py init_workspace validates neither an upper bound nor
    # validity > 0; 'init --issuing-validity 0d' even succeeds with a key valid for 0 s).
    fresh = env.tmp / "fresh"
    argv = ["--home", str(fresh), "--passphrase-file", str(env.passfile), "init", "--issuing-validity", "999999y"]
    result = expect_unchanged(env, lambda: env.run("licsign", argv))
    assert_outcome("licsign", argv, E2, *result)
    assert not fresh.exists()


def test_init_with_a_zero_issuing_validity_is_refused(env: Env) -> None:
    # BUG (same place): 'key new-issuing --validity 0d' is refused ("must be positive"), but
    # 'init --issuing-validity 0d' succeeds and leaves a workspace whose only issuing key
    # is valid for zero seconds, so the first 'issue' fails with "no issuing key is valid".
    fresh = env.tmp / "fresh"
    argv = ["--home", str(fresh), "--passphrase-file", str(env.passfile), "init", "--issuing-validity", "0d"]
    result = expect_unchanged(env, lambda: env.run("licsign", argv))
    assert_outcome("licsign", argv, E2, *result)


def test_new_issuing_key_with_an_unrepresentable_validity_is_an_input_error(env: Env) -> None:
    # BUG: the licverify Malformed raised by encode_certificate_payload is not turned into an
    # InvalidInput (licsign/_workspace.py _certify_new_key), so run_click reports
    # "licsign: malformed: certificate expiry must be a NumericDate" with exit 1 after the
    # root key was opened. Expected: exit 2 (an input error), checked before the root key
    # is decrypted.
    argv = ["--passphrase-file", str(env.passfile), "key", "new-issuing", "--validity", "999999y"]
    result = expect_unchanged(env, lambda: env.run("licsign", argv))
    assert_outcome("licsign", argv, E2, *result)


@pytest.mark.parametrize("prog", ["licsign", "licverify"])
def test_no_command_is_not_a_multi_line_error(env: Env, prog: str) -> None:
    # BUG: with click 8.2+, a group called without a command raises NoArgsIsHelpError, a
    # UsageError whose message is the whole help text; run_click (licverify/cliutil.py)
    # prints it as "licsign: error: Usage: ..." over ~20 lines on stderr with exit 2.
    # Expected: the help on stdout with exit 0, or one error line with exit 2.
    code, out, err = expect_unchanged(env, lambda: env.run(prog, []))
    assert "Traceback" not in out + err
    if code == 0:
        assert "Usage:" in out
    else:
        assert_outcome(prog, ["(none)"], E2, code, out, err)


def test_certificate_is_a_valid_document_for_inspect(env: Env) -> None:
    """The one input of the sweep that exits 0: inspect explains any document."""
    path = make_input("certificate", env)
    code, out, _ = expect_unchanged(env, lambda: env.run("licverify", ["inspect", str(path), "--trust", str(env.trust)]))
    assert code == 0 and "Kind:     issuing-key-certificate" in out
