# make bench: throughput, overhead, concurrency, scaling, a Celery baseline and the open-loop
# capacity of Podium, Celery and LangGraph (docs/benchmarks.md).
#   BENCH_ARGS="--quick"               short runs, a smoke test
#   BENCH_ARGS="pipeline scaling"      some scenarios only
#   BENCH_ARGS="--window 15 capacity"  capacity with 15 s windows (60 by default)
# make profile: the short pipeline run with py-spy on every service; collapsed stacks under
# .dev/profiles/ and the hottest functions of each service printed (figures are skewed).
# Kafka and PostgreSQL: PODIUM_BENCH_BOOTSTRAP and PODIUM_BENCH_PG_DSN when both are set,
# else the local stack's (`podium up --infra` starts it if needed, its broker compiled with
# C2 as Kafka ships: PODIUM_DEV__KAFKA_JIT=throughput; `make down` stops it, so that a broker
# started for development is not the one measured). PODIUM_BENCH_KEEP=1 keeps each run's
# topics and database, to be looked into (their names are printed). A run says how many
# earlier runs' topics and databases it found (killed runs leave theirs: a broker holding
# thousands of their partitions slows down); BENCH_ARGS="--clean ..." deletes them first.
# The Celery baseline and capacity need redis-server: installed from Debian packages when
# missing (as root).

bench_default_goal := $(.DEFAULT_GOAL)
BENCH_ARGS ?=

.PHONY: bench bench-sync bench-redis profile

bench-redis:
	@command -v redis-server >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing redis-server from Debian packages"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; \
		else echo "make bench: redis-server is missing (apt-get install redis-server); the Celery baseline is skipped" >&2; fi; }

profile: BENCH_ARGS = --quick --profile .dev/profiles --out .dev/profiles/results.json pipeline
profile: bench

# The bench dependency group (Celery, Redis's client, gevent, LangGraph) only for the bench;
# `make sync` leaves it out again.
bench-sync: sync
	$(UV) sync --frozen --group bench

bench: bench-sync bench-redis
	@if [ -z "$$PODIUM_BENCH_BOOTSTRAP" ] || [ -z "$$PODIUM_BENCH_PG_DSN" ]; then \
		PODIUM_DEV__KAFKA_JIT=throughput $(PODIUM) up --infra || exit 1; \
		exports="$$($(PODIUM) test-env)" || exit 1; eval "$$exports"; \
		export PODIUM_BENCH_BOOTSTRAP="$$PODIUM_TEST_BOOTSTRAP" PODIUM_BENCH_PG_DSN="$$PODIUM_TEST_PG_DSN"; \
	fi; \
	echo "bench uses Kafka at $$PODIUM_BENCH_BOOTSTRAP and PostgreSQL at $$PODIUM_BENCH_PG_DSN"; \
	$(UV) run --frozen --group bench python -m bench $(BENCH_ARGS)

.DEFAULT_GOAL := $(bench_default_goal)
