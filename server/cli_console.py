"""`idstitch console`: serves the operator web page (console/) on this machine, as a client of an
idstitch server. cheroot serves it: a production WSGI server (CherryPy's) with TLS built in, so
the page can be served over HTTPS with the same kind of certificate files as the gRPC server."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

HELP = "serve the operator web page (a client of the server's API; see docs/console.md)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", type=Path, default=os.environ.get("IDSTITCH_CONFIG"), help="YAML settings file"
    )
    p.add_argument("--host", help="override console.host (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, help="override console.port (default 8080; 0: a free port)")


DEFAULT_TARGET = "127.0.0.1:50051"
"""The CLI's default --target: when it is what the flag holds, the console's own setting wins."""


def run(args: argparse.Namespace) -> int:
    from cheroot import wsgi
    from cheroot.ssl.builtin import BuiltinSSLAdapter

    from console.app import ConsoleSettings, create_app
    from server.config import load_settings

    try:
        settings = load_settings(args.config)
    except ValueError as e:
        print(f"idstitch console: the settings are not valid:\n{e}", file=sys.stderr)
        return 2
    own = settings.console
    explicit = args.target if args.target != DEFAULT_TARGET else ""  # --target or IDSTITCH_TARGET
    target = explicit or own.target or f"{settings.host}:{settings.port}"
    tls = own.cert_file is not None and own.key_file is not None
    app = create_app(
        ConsoleSettings(
            target=target, ca=args.ca, cert=args.cert, client_key=args.key, secure_cookies=tls,
            idle_minutes=own.idle_minutes, proxy_key_header=own.proxy_key_header,
        )
    )  # fmt: skip
    host = args.host or own.host
    port = own.port if args.port is None else args.port
    server = wsgi.Server((host, port), app, numthreads=8, server_name="idstitch-console")
    if tls:
        server.ssl_adapter = BuiltinSSLAdapter(str(own.cert_file), str(own.key_file))
    server.prepare()
    bound = server.bind_addr[1] if isinstance(server.bind_addr, tuple) else port
    scheme = "https" if tls else "http"
    print(f"idstitch console on {scheme}://{host}:{bound}/ (calling {target})", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    stop.wait()
    server.stop()
    print("idstitch console stopped", flush=True)
    return 0
