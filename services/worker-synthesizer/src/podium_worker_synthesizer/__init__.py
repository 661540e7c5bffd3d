"""tasks.synthesizer → results: synthesizes outputs into an answer."""
