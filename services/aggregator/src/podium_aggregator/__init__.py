"""plans + results → tasks.<type>, outputs: joins results per goal (faust)."""
