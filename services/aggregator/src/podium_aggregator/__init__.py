"""plans + results → tasks.<type>, outputs: joins results per goal (faust)."""

from podium_aggregator.lean_faust import import_faust

# Before any module of the package imports faust: faust without aiohttp (lean_faust).
import_faust()
