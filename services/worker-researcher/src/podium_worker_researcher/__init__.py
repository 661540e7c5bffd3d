"""tasks.researcher → results: research tasks."""
