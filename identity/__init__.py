"""Identifiers, their normalization, the identity graph port and the stitching rules."""
