"""Many at once: ``licsign issue --from-csv FILE -o DIR`` and ``licsign activate REQUEST... -o DIR``.

Both are reached from their one-at-a-time commands (``licenses.issue``,
``activation.activate``), which hand over when given a CSV file or several
requests; each parses, calls one service and renders, as every command does.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from licsign import ActivationAnswer, IssuedBatch, activate_many, issue_from_csv
from licsign.cli._context import (
    Context,
    emit_json,
    now_utc,
    require_writable,
    say,
    write_output,
)
from licverify._time import iso

if TYPE_CHECKING:
    from collections.abc import Sequence

#: ``licsign issue`` options that still mean something with ``--from-csv`` (the terms
#: come from the file's columns).
_WITH_CSV = {"from_csv", "output", "binary", "as_json"}
#: What ``licsign issue`` needs when no CSV file gives the terms.
_SINGLE_REQUIRED = ("product", "customer", "license_type")


def require_single_issue_options(opts: dict[str, Any]) -> None:
    """``licsign issue`` without ``--from-csv`` needs --product, --customer and --type:
    refused exactly as click refuses a missing required option."""
    ctx = click.get_current_context()
    for name in _SINGLE_REQUIRED:
        if opts[name] is None:
            param = next(p for p in ctx.command.params if p.name == name)
            raise click.MissingParameter(ctx=ctx, param=param)


class _ProgressBar:
    """``progress(done, total)`` as a bar on stderr (a terminal) or one ``...`` line (a pipe)."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._done = 0

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = click.progressbar(
                length=total, label=f"... issuing {total} licenses",
                file=sys.stderr,
            )  # fmt: skip
            self._bar.__enter__()
        self._bar.update(done - self._done)
        self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


def issue_csv(ctx: Context, opts: dict[str, Any]) -> None:
    """``licsign issue --from-csv FILE -o DIR``: every row, all or none, then the files."""
    from licsign import MAX_CSV_BYTES, LicsignError
    from licsign._files import read_regular_file
    from licsign._services.bulk import check_output_directory

    click_ctx = click.get_current_context()
    for param in click_ctx.command.params:
        if param.name not in _WITH_CSV and click_ctx.get_parameter_source(param.name or "") not in (
            ParameterSource.DEFAULT,
            None,
        ):
            option = max(param.opts, key=len)
            raise click.UsageError(
                f"{option} cannot be combined with --from-csv: the file gives every "
                "license's terms (a column of that name does it row by row)"
            )
    if opts["output"] == "-":
        raise click.UsageError("--from-csv writes one file per license: give -o DIRECTORY")
    try:  # before anything is read or recorded, as 'issue' checks its -o FILE
        check_output_directory(opts["output"])
    except LicsignError as exc:
        raise click.UsageError(str(exc)) from None
    data = read_regular_file(opts["from_csv"], MAX_CSV_BYTES, "CSV file")
    bar = _ProgressBar()
    try:
        batch = issue_from_csv(
            ctx.workspace(), data, opts["output"], ctx.passphrase_source(), now=now_utc(),
            progress=bar, binary=opts["binary"],
        )  # fmt: skip
    finally:
        bar.close()
    if opts["as_json"]:
        emit_json(batch.to_json())
        return
    _summary(batch)


def _summary(batch: IssuedBatch) -> None:
    count = len(batch.licenses)
    say(f"Issued {count} license{'s' * (count != 1)} to {batch.directory} "
        f"(one file per license; list in {batch.manifest})")  # fmt: skip
    implied = sum(1 for b in batch.licenses if b.license.activation_implied_by)
    if implied:
        click.echo(
            f"Activation required for {implied} of them: their seat limits, users, leases or "
            "refresh are enforced through the activation exchange (licsign activate)"
        )


def activate_batch(
    ctx: Context,
    request_files: Sequence[str],
    directory: str,
    force: bool,
    as_json: bool,
    no_revocations: bool = False,
) -> None:
    """``licsign activate REQUEST... -o DIR``: each answered on its own; exit 1 if any is refused.

    Each response carries the latest exported revocation list for its license
    unless ``no_revocations`` (docs/adr/0021).
    """
    from licsign._files import read_regular_file
    from licsign.cli.revocations import with_revocations
    from licverify.format import MAX_DOCUMENT_SIZE

    targets = _response_paths(request_files, directory, force)
    documents = [read_regular_file(p, 2 * MAX_DOCUMENT_SIZE, "request") for p in request_files]
    answers = activate_many(ctx.workspace(), documents, ctx.passphrase_source(), now=now_utc())
    os.makedirs(directory, exist_ok=True)
    attached: dict[int, int | None] = {}
    for answer in answers:
        if answer.granted is not None:
            data, attached[answer.index] = with_revocations(
                ctx, answer.granted.license_id, answer.granted.response, no_revocations
            )
            write_output(targets[answer.index], data, force)
    refused = [a for a in answers if a.granted is None]
    if as_json:
        out = _batch_json(answers, request_files, targets)
        for item, number in zip(out["granted"], attached.values(), strict=True):
            item["revocation_list"] = number
        emit_json(out)
    else:
        for answer in answers:
            say(_answer_line(answer, request_files, targets))
        click.echo(f"{len(answers) - len(refused)} granted, {len(refused)} refused")
    if refused:
        click.get_current_context().exit(1)


def _response_paths(request_files: Sequence[str], directory: str, force: bool) -> list[str]:
    """DIR/<request file's stem>.response.txt for each request, checked before any work."""
    if os.path.lexists(directory) and not os.path.isdir(directory):
        raise click.UsageError(f"{directory!r} is not a directory (several requests: -o DIRECTORY)")
    if not os.path.isdir(directory):
        require_writable(directory, False)  # it can be created
    targets: list[str] = []
    for path in request_files:
        stem = os.path.splitext(os.path.basename(path))[0]
        target = os.path.join(directory, f"{stem}.response.txt")
        if target in targets:
            raise click.UsageError(
                f"two requests would both be answered in {target!r}; give them different names"
            )
        if os.path.isdir(directory):
            require_writable(target, force)
        targets.append(target)
    return targets


def _answer_line(answer: ActivationAnswer, requests: Sequence[str], targets: Sequence[str]) -> str:
    granted = answer.granted
    if granted is None:
        return f"Refused {requests[answer.index]}: {answer.code}: {answer.reason}"
    verb = "Renewed" if granted.reused else "Granted"
    until = "" if granted.expires is None else f" (works until {iso(granted.expires)})"
    return (
        f"{verb} activation {granted.activation_id} for device {granted.device_id[:12]}{until}; "
        f"response in {targets[answer.index]}"
    )


def _batch_json(
    answers: Sequence[ActivationAnswer], requests: Sequence[str], targets: Sequence[str]
) -> dict[str, Any]:
    granted, refused = [], []
    for a in answers:
        if a.granted is None:
            refused.append({"request": requests[a.index], "code": a.code, "reason": a.reason})
            continue
        granted.append({
            "request": requests[a.index], "response": targets[a.index],
            "activation": a.granted.activation_id, "device": a.granted.device_id,
            "renewed": a.granted.reused, "expires": iso(a.granted.expires),
        })  # fmt: skip
    return {"granted": granted, "refused": refused}
