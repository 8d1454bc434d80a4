"""Developer tools: benchmarks, the demo, and the attack suites behind `make prove`."""
