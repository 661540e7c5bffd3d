"""One module per scenario; each returns the figures it adds to results.json."""
