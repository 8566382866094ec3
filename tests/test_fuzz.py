"""A short coverage-guided fuzzing run of every reader of untrusted bytes (atheris).

``make fuzz`` runs the same harness for minutes; here it runs a fixed number of
iterations from the conformance vectors, so a regression that lets some input
escape as an unexpected exception fails ``make test``. Where atheris is not
installed (it ships wheels for Linux only), the same property is checked over
one byte in seven of every seed, changed, instead.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

HARNESS = Path(__file__).parent / "fuzz" / "fuzz_documents.py"
RUNS = 8000

sys.path.insert(0, str(HARNESS.parent))
import fuzz_documents  # noqa: E402


def test_fuzz_harness_property_holds(tmp_path: Path) -> None:
    seeds = fuzz_documents.seeds()
    assert len(seeds) > 100
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(seeds):
        (corpus / f"seed-{i}").write_bytes(seed)
    if importlib.util.find_spec("atheris") is not None:
        proc = subprocess.run(
            [sys.executable, str(HARNESS), f"-runs={RUNS}", "-seed=1", str(corpus)],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert f"#{RUNS}\tDONE" in proc.stderr
        return
    check_one = fuzz_documents.make_target()
    for seed in seeds:
        for i in range(0, len(seed), 7):  # a byte in seven: keeps this fallback under a minute
            check_one(seed[:i] + bytes([seed[i] ^ 0xFF]) + seed[i + 1 :])
