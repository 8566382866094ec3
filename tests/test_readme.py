"""Every code block of README.md runs, literally, so the README cannot rot.

The harness, and the rules a README block must follow to pass it:

- Fenced blocks are ```sh or ```python; any other language fails the test, so a
  block cannot escape by being tagged ```bash or left untagged.
- The blocks run in document order, as a reader pasting them into one terminal
  would: one temporary directory, with what a terminal session keeps between
  pastes: the exported environment (``export FOO=...``) and the working
  directory. Plain shell variables do not carry over: a block that needs an id
  captures it itself (``LICENSE_ID=$(licsign list --json | python3 -c ...)``).
- Each ```sh block runs with ``bash -euo pipefail`` and must exit 0. A command
  expected to fail has to say so in the block itself (``cmd || echo "exit $?"``).
- Each ```python block runs with this interpreter (the venv's), in the same
  directory and environment, on the files the shell blocks produced; it must
  exit 0.
- Runnable blocks hold no placeholders: no ``L-XXXX-...`` ids, no ``…``, no
  ``<value>`` and no ``[--optional]`` syntax (put optional flags in a comment
  or in the prose).
- The only block not run is the first one, ``make demo`` / ``make test``
  (``make demo`` runs in tests/test_examples.py; ``make test`` is this suite).
  Blocks made only of make targets are skipped, and the list of skipped blocks
  must equal ``SKIPPED_MAKE_BLOCKS`` exactly, so a skip cannot hide a new block.
- The environment is sealed: ``HOME`` is a fresh directory (so ``~/acme-licensing``
  lands in the temporary directory), ``LICSIGN_HOME`` starts fresh there too,
  ``LICVERIFY_STATE_DIR`` points into it, ``XDG_*`` variables are dropped,
  ``LICSIGN_PASSPHRASE`` is set (at least 12 characters) so nothing prompts,
  stdin is empty, ``PATH`` starts with the venv's bin directory, and
  ``LICVERIFY_MACHINE_ID`` is injected (as in a container) so the activation
  exchange does not depend on the test machine having an OS machine id.

Keys use the production Argon2id cost (256 MiB), so the whole README takes a
few seconds: marked slow.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from harness import ENV_PREFIXES

import licverify.cli as lvcli
from licsign.cli import HOME_ENV, PASSPHRASE_ENV

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
BIN = Path(sys.executable).parent

#: The blocks the harness does not run, as their commands (comments removed).
SKIPPED_MAKE_BLOCKS = [["make demo", "make test"]]

PASSPHRASE = "readme passphrase, twelve+ characters"
MACHINE_ID = "readme-test-machine-0001"
PLACEHOLDERS = re.compile(r"X{4}|…|\[--|<[A-Za-z][A-Za-z0-9_-]*>")
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
#: Environment a terminal session has but a pasted block does not choose.
SESSION_NOISE = {"PWD", "OLDPWD", "SHLVL", "_"}


def readme_blocks() -> list[tuple[str, str]]:
    """(language, code) of every fenced block of README.md, in order."""
    return [(lang.strip(), code) for lang, code in FENCE.findall(README.read_text("utf-8"))]


def commands(code: str) -> list[str]:
    """A shell block's command lines, without comments and blank lines."""
    lines = (re.sub(r"(^|\s)#.*$", "", line).strip() for line in code.splitlines())
    return [line for line in lines if line]


def is_make_block(code: str) -> bool:
    cmds = commands(code)
    return bool(cmds) and all(re.fullmatch(r"make( [A-Za-z0-9_.-]+)+", c) for c in cmds)


def test_readme_blocks_are_sh_or_python_and_only_the_make_block_is_skipped() -> None:
    blocks = readme_blocks()
    assert blocks, "no fenced blocks found in README.md"
    assert {lang for lang, _ in blocks} <= {"sh", "python"}, [lang for lang, _ in blocks]
    skipped = [commands(code) for lang, code in blocks if lang == "sh" and is_make_block(code)]
    assert skipped == SKIPPED_MAKE_BLOCKS
    # The README opens with the two entry points of a fresh clone.
    assert blocks[0][0] == "sh" and commands(blocks[0][1]) == ["make demo", "make test"]


def test_runnable_blocks_have_no_placeholders() -> None:
    for lang, code in readme_blocks():
        if lang == "sh" and is_make_block(code):
            continue
        found = PLACEHOLDERS.findall(code)
        assert not found, f"placeholder {found} in README block:\n{code}"


# Not harness.Site: README blocks run literally, in a real shell, at the production KDF cost.
class Session:
    """One simulated terminal: exported environment and working directory carried over."""

    def __init__(self, tmp: Path) -> None:
        self.harness = tmp / "harness"  # the harness's own files, outside the session's view
        self.harness.mkdir()
        self.cwd = tmp / "session"
        self.cwd.mkdir()
        home = tmp / "home"
        home.mkdir()
        assert (BIN / "licsign").exists() and (BIN / "licverify").exists(), BIN
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith((*ENV_PREFIXES, "XDG_", "PYTEST_")) and k not in SESSION_NOISE
        }
        env.update({
            "HOME": str(home),
            HOME_ENV: str(tmp / "licsign-home"),
            PASSPHRASE_ENV: PASSPHRASE,
            lvcli.STATE_DIR_ENV: str(tmp / "verifier-state"),
            lvcli.MACHINE_ID_ENV: MACHINE_ID,
            "PATH": os.pathsep.join([str(BIN), env.get("PATH", os.defpath)]),
        })  # fmt: skip
        self.env = env
        self.count = 0

    def run(self, lang: str, code: str) -> subprocess.CompletedProcess[str]:
        self.count += 1
        env_file = self.harness / f"env-{self.count}"
        cwd_file = self.harness / f"cwd-{self.count}"
        if lang == "sh":
            script = self.harness / f"block-{self.count}.sh"
            epilogue = f"\nenv -0 > '{env_file}'\npwd > '{cwd_file}'\n"
            script.write_text(code + epilogue, "utf-8")
            argv = ["bash", "-euo", "pipefail", str(script)]
        else:
            script = self.harness / f"block-{self.count}.py"
            script.write_text(code, "utf-8")
            argv = [sys.executable, str(script)]
        proc = subprocess.run(
            argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        where = (
            f"README ```{lang} block #{self.count}:\n{code}\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
        assert proc.returncode == 0, f"exit status {proc.returncode} from {where}"
        assert "Traceback" not in proc.stdout + proc.stderr, where
        if lang == "sh":
            pairs = (item.split("=", 1) for item in env_file.read_text("utf-8").split("\0") if item)
            self.env = {k: v for k, v in pairs if k not in SESSION_NOISE}
            self.cwd = Path(cwd_file.read_text("utf-8").rstrip("\n"))
        return proc


@pytest.mark.slow
def test_every_readme_block_runs_literally(tmp_path: Path) -> None:
    session = Session(tmp_path)
    outputs: list[tuple[str, str, str]] = []
    for lang, code in readme_blocks():
        if lang == "sh" and is_make_block(code):
            continue
        proc = session.run(lang, code)
        outputs.append((lang, code, proc.stdout))
    assert len(outputs) >= 4, "expected the vendor, verify, check and activation blocks"
    assert any(lang == "python" for lang, _, _ in outputs), "the verify example did not run"

    # The blocks did what they say, and only inside the temporary directory.
    assert (tmp_path / "home" / "acme-licensing" / "workspace.json").is_file()
    assert not (tmp_path / "licsign-home").exists(), "README's LICSIGN_HOME export was not used"
    text = "\n".join(out for _, _, out in outputs)
    for lang, code, out in outputs:
        if lang == "python":
            assert "STEP export enabled" in out, out
        if "licverify check" in code:
            assert out.startswith("VALID"), out
        if "usage report" in code:  # the counters block: consumed nothing, refilled 500
            assert "Left:        610 exports" in out and "Clock ratchet reset to" in out, out
        elif "licsign activate" in code:
            assert "Granted activation" in out and "Activated:" in out, out
            assert "Freed the seat" in out, out
    assert re.search(r"License:\s+L-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", text)
    assert (tmp_path / "verifier-state" / "device.key").exists()
