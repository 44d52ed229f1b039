"""The local stack: Compute Engine and Cloud Scheduler fakes, the Pub/Sub emulator
harness and the demo. Used by the tests, the benchmarks and `make demo`; never deployed."""
