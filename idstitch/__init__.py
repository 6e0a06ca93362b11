"""Generated gRPC stubs for the idstitch.v1 API (see proto/ and scripts/gen-proto)."""
