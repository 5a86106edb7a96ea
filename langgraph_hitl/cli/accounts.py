"""`reviewers reset`, `reviewers sessions`, `reviewers signout`: a reviewer's access to
the browser inbox, for the operator.

Importing this module registers the commands on the `reviewers` group (`scale`).
"""

from __future__ import annotations

import secrets
from typing import Annotated

import typer

from langgraph_hitl._tables import Column, fitted_table
from langgraph_hitl.cli.app import JsonFlag, _desk, _handled
from langgraph_hitl.cli.output import out
from langgraph_hitl.cli.output import print_json as _print_json
from langgraph_hitl.cli.scale import ActorOption, reviewers_app
from langgraph_hitl.errors import BadInputError

DEFAULT_URL = "http://127.0.0.1:8080"
RESET_VALID = "30m"

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The reviewer.")]


@reviewers_app.command(
    "reset",
    epilog="The code is in the link's fragment (after #): a browser never sends that part"
    " to the server, nor in a Referer, so it stays out of server and proxy logs; the"
    " inbox's page reads it with a small script, or the reviewer pastes it. The ledger"
    " keeps only its SHA-256; a new link replaces an unused one. Setting the password"
    " through it ends every session the reviewer has.",
)
@_handled
def reviewers_reset(
    name: NameArgument,
    url: Annotated[
        str,
        typer.Option(
            "--url",
            metavar="URL",
            help="The inbox's address as the reviewer reaches it.",
        ),
    ] = DEFAULT_URL,
    valid: Annotated[
        str,
        typer.Option(
            "--valid",
            metavar="DURATION",
            help="How long the link works (e.g. 30m, 2h; at most 24h).",
        ),
    ] = RESET_VALID,
    actor: ActorOption = None,
) -> None:
    """Print a one-time link that lets a reviewer set a new password in the inbox.

    Give it to them over a channel you trust; it works once, for a short time.
    """
    from langgraph_hitl._time import iso, parse_duration

    if not url.startswith(("http://", "https://")):
        raise BadInputError(f"bad --url {url!r}: give the inbox's address, e.g. {DEFAULT_URL}")
    seconds = parse_duration(valid)
    if not 0 < seconds <= 24 * 3600:
        raise BadInputError(f"bad --valid {valid!r}: a reset link works for up to 24h")
    token = secrets.token_urlsafe(32)
    with _desk().ledger() as ledger:
        expires = ledger.add_reset_token(name, token, seconds=seconds, actor=actor)
    out.print(f"{url.rstrip('/')}/reset#{token}", markup=False)
    out.print(f"for {name}; works once, until {iso(expires)}", markup=False)


@reviewers_app.command("sessions")
@_handled
def reviewers_sessions(name: NameArgument, as_json: JsonFlag = False) -> None:
    """List a reviewer's inbox sessions (active, ended, expired), newest first.

    The id is the start of the digest the ledger keeps: it tells sessions apart and
    signs nobody in.
    """
    with _desk().ledger() as ledger:
        rows = ledger.sessions(name)
        known = any(row["name"] == name for row in ledger.reviewers())
    if not known and not rows:
        raise BadInputError(f"no reviewer named {name!r}")
    if as_json:
        _print_json(rows)
        return
    cells = [
        [row["id"], row["method"], row["state"], row["created"], row["last_seen"], row["expires"]]
        for row in rows
    ]
    columns = (
        Column("id", ident=True),
        Column("method", floor=8),
        Column("state", floor=7),
        Column("created", floor=19),
        Column("last seen", floor=19),
        Column("expires", floor=19),
    )
    out.print(fitted_table(columns, cells, width=out.width))


@reviewers_app.command("signout")
@_handled
def reviewers_signout(name: NameArgument, actor: ActorOption = None) -> None:
    """End every inbox session of a reviewer, in every browser (logged)."""
    with _desk().ledger() as ledger:
        if not any(row["name"] == name for row in ledger.reviewers()):
            raise BadInputError(f"no reviewer named {name!r}")
        ended = ledger.end_sessions(name, actor=actor)
    out.print(f"{name}: {ended} session{'s' if ended != 1 else ''} ended", markup=False)
