"""Connections to the database drivers, shared by the stores that use the same server (one
driver pool per process and endpoint). Imported by stores only."""
