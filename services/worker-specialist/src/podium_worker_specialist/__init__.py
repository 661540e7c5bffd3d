"""tasks.specialist → results: specialist tasks."""
