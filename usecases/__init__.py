"""The operations that span stores, one module each, read top to bottom: ingest.py (events to
stitched persons and folded profiles), splits.py (detach, refold after a split, the settle
sweep), person_requests.py (traits and other API requests recorded as a person's events),
privacy_requests.py (erasure, export, consent) and outbox_sweep.py (finishing what a server died
before finishing). The servicers call these; these call the identity side, the profile domain,
the stores and the change log — never the other way round."""
