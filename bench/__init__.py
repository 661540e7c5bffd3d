"""Podium's benchmark: throughput, overhead, concurrency, scaling and a Celery baseline."""
