"""Datasets that live in an object store: the driver's checks and fingerprints (sync), each node's copy (sync), and
the one-time upload a course runs (upload)."""
