"""Privacy records (suppressions, erasure receipts, audit, API keys): the port and its stores."""
