"""Pieces every layer shares: the domain errors, telemetry helpers on the OpenTelemetry API, and
the SQLite plumbing of the embedded stores."""
