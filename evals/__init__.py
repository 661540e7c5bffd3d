"""Measurements of what a model does for Podium (`make eval-plans`)."""
