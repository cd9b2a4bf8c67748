"""Hand-written SQL and what it needs, by concern:

- `lookups`: the hot path's one-row queries (token, active version), and running statements on a driver's
  cursor through Django's execute wrappers;
- `bulk`: analytics' multi-row inserts, within the connection's parameter limit;
- `values`: values as drivers take and return them, rows read without Django's conversions;
- `snapshots`: one read snapshot for answers built from several queries;
- `sqlite`: SQLite's writer queue and WAL checkpoints.
"""
