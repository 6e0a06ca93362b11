"""The change feed's records: changes to persons in the order they were recorded, and what the
feed last said about each person (so that a change is told once, and a time-based one at all)."""
