"""`gridloop bench`: throughput, latency and memory figures of gridloop against the raw engine,
measured side by side in one run (docs/performance.md)."""
