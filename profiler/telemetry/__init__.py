"""Telemetry beside a run: NVML sampler, vLLM /metrics scraper, host sampler, breakdown.

All samplers are background threads (never the event loop) that stamp perf_counter_ns, the
clock of requests.parquet. Unsupported queries give None plus a reason, never zeros.
"""

from profiler.telemetry.session import TelemetrySession

__all__ = ["TelemetrySession"]
