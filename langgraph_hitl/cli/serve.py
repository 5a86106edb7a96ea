"""The `serve` command: the reviewers' inbox in the browser, on the ledger.

    langgraph-hitl --db hitl.sqlite serve [--host 127.0.0.1] [--port 8080] [--no-apply]
        [--oidc-issuer URL --oidc-client-id ID [--oidc-claim CLAIM] [--public-url URL]]
        [--trust-proxy-header HEADER --trusted-proxy ADDRESS ...]

Needs the web extra (`pip install 'langgraph-hitl[web]'`). Reviewers sign in with the
password `reviewers add NAME --role ROLE --password` set (or a `reviewers reset` link
sets), through an OpenID Connect provider, or through an authenticating proxy's header;
whichever way, the name must be a reviewer registered in the ledger.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from typing import Annotated, Any

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


def _sign_in_settings(
    issuer: str | None,
    client_id: str | None,
    claim: str,
    public_url: str | None,
    header: str | None,
    proxies: list[str] | None,
) -> Any:
    """The sign-in ways besides passwords, from `serve`'s options (checked before
    anything listens)."""
    from langgraph_hitl.web.auth import (
        OIDC_SECRET_ENV,
        OidcSettings,
        SignInSettings,
        proxy_networks,
    )

    oidc = None
    if issuer or client_id:
        if not issuer or not client_id:
            raise BadInputError("single sign-on needs both --oidc-issuer and --oidc-client-id")
        try:
            import authlib  # noqa: F401
        except ImportError:
            raise BadInputError(
                "single sign-on needs the web extra: pip install 'langgraph-hitl[web]'"
            ) from None
        oidc = OidcSettings(
            issuer=issuer,
            client_id=client_id,
            client_secret=os.environ.get(OIDC_SECRET_ENV) or None,
            claim=claim,
            public_url=public_url,
        )
    if header is not None and not header.strip():
        raise BadInputError("--trust-proxy-header needs a header name, e.g. X-Forwarded-User")
    return SignInSettings(
        oidc=oidc,
        proxy_header=header.strip() if header else None,
        trusted_proxies=proxy_networks(proxies or ()),
    )


@app.command(
    epilog="Sessions are kept in the ledger (`reviewers sessions NAME`, `reviewers signout"
    " NAME`); the cookie carries a random session id, signed with $LANGGRAPH_HITL_SECRET"
    " (at least 32 characters), or, on"
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
    oidc_issuer: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            envvar="LANGGRAPH_HITL_OIDC_ISSUER",
            help="Single sign-on: the OpenID Connect provider's issuer URL (its discovery"
            " document is URL/.well-known/openid-configuration). The client secret, if the"
            " provider gave one, is read from $LANGGRAPH_HITL_OIDC_CLIENT_SECRET only"
            " [env LANGGRAPH_HITL_OIDC_ISSUER].",
            show_envvar=False,
        ),
    ] = None,
    oidc_client_id: Annotated[
        str | None,
        typer.Option(
            metavar="ID",
            envvar="LANGGRAPH_HITL_OIDC_CLIENT_ID",
            help="The inbox's client id at the provider [env LANGGRAPH_HITL_OIDC_CLIENT_ID].",
            show_envvar=False,
        ),
    ] = None,
    oidc_claim: Annotated[
        str,
        typer.Option(
            metavar="CLAIM",
            envvar="LANGGRAPH_HITL_OIDC_CLAIM",
            help="The ID token claim that names the reviewer, e.g. preferred_username or"
            " email (an unverified email is refused); it must name a registered reviewer"
            " [env LANGGRAPH_HITL_OIDC_CLAIM].",
            show_envvar=False,
        ),
    ] = "preferred_username",
    public_url: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="The inbox's address as browsers reach it (behind a proxy), for the"
            " redirect URI registered at the provider: URL/login/oidc/callback. Default:"
            " the address each request came to.",
        ),
    ] = None,
    trust_proxy_header: Annotated[
        str | None,
        typer.Option(
            metavar="HEADER",
            help="Believe this header (e.g. X-Forwarded-User) as the signed-in reviewer's"
            " name, on connections from a --trusted-proxy only. Off by default. Anyone who"
            " reaches the server without the proxy, or through a proxy that passes a"
            " client's own header on, can claim any name: listen where only the proxy can"
            " connect, and have the proxy overwrite the header.",
        ),
    ] = None,
    trusted_proxy: Annotated[
        list[str] | None,
        typer.Option(
            metavar="ADDRESS",
            help="The authenticating proxy's address or network (repeat for several);"
            " needs --trust-proxy-header.",
        ),
    ] = None,
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

    settings = _sign_in_settings(
        oidc_issuer, oidc_client_id, oidc_claim, public_url, trust_proxy_header, trusted_proxy
    )
    desk = _desk()
    with desk.ledger():
        pass  # a missing or unreadable database is refused here, before listening
    here = not no_apply and apply_default() == "here"
    inbox = create_app(
        desk.path,
        secret=session_secret(desk.path),
        apply=here,
        https_only=not _loopback(host),
        signin=settings,
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
    # proxy_headers off: the client address is the connection's own, never one a header
    # claims (the login limit and --trusted-proxy rest on it). No access log: a URL is
    # never written anywhere.
    config = uvicorn.Config(
        inbox, log_level="warning", access_log=False, lifespan="off", proxy_headers=False
    )
    # Ends the live-update streams on SIGTERM or Ctrl-C: uvicorn waits for open responses.
    StreamingServer(config, feed_of(inbox)).run(sockets=[sock])
