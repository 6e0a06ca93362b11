"""The Ingest path: a batch of events becomes stitched persons and folded profiles
(stitch_and_fold.py). The servicer calls it; it calls the identity service, the fold and the
profile store."""
