"""``licsign serve``: the licensing portal in the vendor's browser (licsign.web; issue 10)."""

from __future__ import annotations

import click

from licsign._keyfile import PassphraseSource
from licsign._workspace import Workspace
from licsign.cli._context import Context, pass_context


def register(cli: click.Group) -> None:
    """Add this module's commands to ``cli``."""
    cli.add_command(serve)


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="The port (0: any free one).")  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True,
              help="A loopback address to bind (nothing else is allowed).")  # fmt: skip
@click.option("--read-only", is_flag=True, help="Offer no action; refuse every change.")
@pass_context
def serve(ctx: Context, port: int, host: str, read_only: bool) -> None:
    """Serve the licensing portal on this workstation until interrupted (Ctrl-C).

    Prints one URL with a one-time sign-in token: open it in your browser.
    The token becomes a session cookie on first use and is refused after
    that. Needs the optional extra: pip install 'licsign[web]'.
    """
    try:
        from werkzeug.serving import make_server

        from licsign.web import Sessions, check_loopback, create_app
    except ImportError:
        raise click.UsageError(
            "licsign serve needs the web extra: pip install 'licsign[web]'"
        ) from None
    try:
        address = check_loopback(host)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--host") from None
    workspace = ctx.workspace()
    passphrase = None if read_only else _unlock(ctx, workspace)
    sessions = Sessions()
    app = create_app(lambda: workspace, read_only=read_only, sessions=sessions,
                     passphrase=passphrase)  # fmt: skip
    server = make_server(address, port, app, threaded=False)
    shown = f"[{address}]" if ":" in address else address
    click.echo(
        f"Serving {workspace.vendor}'s licensing portal{' (read-only)' if read_only else ''}"
    )
    click.echo(f"Open: http://{shown}:{server.server_port}/?token={sessions.token}")
    click.echo("Stop it with Ctrl-C.", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _unlock(ctx: Context, workspace: Workspace) -> PassphraseSource:
    """Read the passphrase once (prompt, --passphrase-file or the environment) and check that
    it opens the newest active issuing key, before anything is served."""
    from licsign import keys, read_key_file
    from licsign.cli._context import now_utc

    secret = ctx.passphrase_source()()
    listed = keys(workspace, now=now_utc())
    active = [k for k in listed if k.role == "issuing" and k.status == "active"]
    if active:
        click.echo("... opening the issuing key (Argon2id)", err=True)
        read_key_file(workspace.issuing_key_path(active[0].key_id), "issuing", lambda: secret)
    return lambda: secret
