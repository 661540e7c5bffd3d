"""The `podium` command: the local stack, topics, goals, dead letters and replays."""
