"""goals → plans, tasks.<type>: asks the LLM for a plan of typed tasks."""
