"""``check``: verify a license file (not the installed state)."""

from __future__ import annotations

import click

import licverify
from licverify.cli._common import Settings, at_or_now, options, refuse, show_license
from licverify.cli._io import read_input


def register(group: click.Group, settings: Settings) -> None:
    """Add ``check`` to ``group``."""

    @group.command()
    @click.argument("license_file", metavar="LICENSE")
    @click.option("--app-version", help="Application version to check against a version gate.")
    @click.option("--revocations", "revocations_file", metavar="FILE",
                  help="A revocation list from the vendor: refuse the license if it is revoked.")  # fmt: skip
    @options(settings)
    def check(license_file: str, app_version: str | None, revocations_file: str | None,
              trust: str | None, product_opt: str | None, machine_id: str | None, at: str | None,
              as_json: bool) -> None:  # fmt: skip
        """Verify a license file (not the installed state) and print the verdict and terms.

        Exit status 0 only for a valid license (including one in its grace period).
        """
        roots, chosen = settings.resolve(trust, product_opt)
        when = at_or_now(at)
        data = read_input(license_file, "LICENSE")
        fingerprint = licverify.machine_fingerprint(chosen, machine_id=machine_id)
        try:
            lic = licverify.verify_license(
                data, trusted_roots=roots, product=chosen, now=when,
                fingerprint=fingerprint, app_version=app_version,
            )  # fmt: skip
            if revocations_file is not None:  # format §13.2, then §13.3
                revoked = licverify.verify_revocation_list(
                    read_input(revocations_file, "--revocations"), trusted_roots=roots,
                    product=chosen, now=when,
                )  # fmt: skip
                revoked.check(lic)
        except licverify.LicenseError as exc:
            refuse(exc, as_json)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
        show_license(lic, as_json)
