"""tasks.validator → results: validates other tasks' outputs."""
