"""The operator console: a web page over the gRPC API for the privacy team, operators and CRM
staff (app.py; served by `idstitch console`, server/cli_console.py)."""
