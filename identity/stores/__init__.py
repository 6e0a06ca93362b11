"""Backends of the identity graph port, one module each."""
