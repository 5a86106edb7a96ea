"""The `serve` command: the reviewers' inbox in the browser, on the ledger.

    langgraph-hitl --db hitl.sqlite serve [--host 127.0.0.1] [--port 8080] [--no-apply]

Needs the web extra (`pip install 'langgraph-hitl[web]'`). Reviewers sign in with the
password `reviewers add NAME --role ROLE --password` set.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from typing import Annotated

import typer

from langgraph_hitl.cli.app import NoApplyFlag, _desk, _handled, app
from langgraph_hitl.cli.output import out
from langgraph_hitl.errors import BadInputError


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command(
    epilog="Sessions are signed with $LANGGRAPH_HITL_SECRET (at least 32 characters), or, on"
    " SQLite, a key kept in DB.secret beside the database (mode 0600, made on first use);"
    " on PostgreSQL the variable is required, the same for every inbox process. Serve on"
    " loopback, or behind a TLS-terminating proxy: away from loopback the session cookie is"
    " marked Secure and is only sent over HTTPS.",
)
@_handled
def serve(
    host: Annotated[
        str,
        typer.Option(metavar="HOST", help="The address to listen on (loopback by default)."),
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(
            metavar="PORT", min=0, max=65535, help="The port to listen on (0: any free port)."
        ),
    ] = 8080,
    no_apply: NoApplyFlag = False,
) -> None:
    """Serve the reviewers' inbox: sign in, see your queue, approve or reject.

    Decisions are recorded for the signed-in reviewer and checked against their role like
    any other; they are applied in this process, or by `langgraph-hitl worker` with
    --no-apply or `[deciding] apply = "worker"`. Prints the address once it listens.
    """
    try:
        import uvicorn

        from langgraph_hitl.web.app import create_app
        from langgraph_hitl.web.auth import session_secret
        from langgraph_hitl.web.live import StreamingServer, feed_of
    except ImportError:
        raise BadInputError(
            "serve needs the web extra: pip install 'langgraph-hitl[web]'"
        ) from None
    from langgraph_hitl._config import apply_default

    desk = _desk()
    with desk.ledger():
        pass  # a missing or unreadable database is refused here, before listening
    here = not no_apply and apply_default() == "here"
    inbox = create_app(
        desk.path, secret=session_secret(desk.path), apply=here, https_only=not _loopback(host)
    )
    # Bound before the line is printed: whoever reads it can connect at once.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise BadInputError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.listen(128)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    applies = "applied here" if here else "recorded; `langgraph-hitl worker` applies them"
    out.print(f"inbox on http://{shown}:{bound}/ (decisions {applies})", markup=False)
    sys.stdout.flush()
    config = uvicorn.Config(inbox, log_level="warning", access_log=False, lifespan="off")
    # Ends the live-update streams on SIGTERM or Ctrl-C: uvicorn waits for open responses.
    StreamingServer(config, feed_of(inbox)).run(sockets=[sock])
