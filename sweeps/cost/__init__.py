"""What a sweep will cost before it runs: the plan's hours and prices (estimate), from a previous sweep's rows, a
measured cost table for the card (table, sweeps/costs/*.yaml) or per-method defaults."""
