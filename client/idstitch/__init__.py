"""The idstitch API for Python callers (the idstitch-client distribution): the generated gRPC
stubs in idstitch.v1 (from proto/ by scripts/gen-proto), channels with the caller key and TLS
(idstitch.channels), and a small typed client (idstitch.client)."""
