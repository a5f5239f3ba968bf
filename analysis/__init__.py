"""Analysis: turn a sweep's Parquet rows into comparison tables (Markdown, CSV) and pictures (PNG)."""
