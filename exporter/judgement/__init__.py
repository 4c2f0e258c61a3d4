"""The pure judgement: time windows, the state machine and score, the Monitor that owns every
provider's mutable state, and the immutable Snapshot it publishes. No I/O. May import the
top-level modules, `probing` and `stored`."""
