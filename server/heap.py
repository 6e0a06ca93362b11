"""How the long-running server asks Python's garbage collector to behave.

The server's heap after start-up (modules, message descriptors, configuration: ~146,000 objects)
lives as long as the process, yet every full collection walked all of it: 30 to 57 ms each, four
to six times per 10,000 ingested events (measured in process, about a fifth of ingest CPU).
Freezing it moves it out of the collector's sight. Requests then allocate and drop many small
containers; collecting the young generation every 10,000 allocations instead of every 700 made 19
passes per 10,000 events instead of ~490. Reference cycles are still collected, in rarer rounds.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
OLDER_THRESHOLDS = (20, 20)


def settle_heap() -> None:
    """Call once the server is built, before it takes requests."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
