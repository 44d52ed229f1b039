"""The chaos soak (`make chaos`): a simulated month of ticks through the local pipeline,
with faults drawn from a seed and invariants checked after every tick.

- fleet.py: the fleet and what the README's rules expect of each disk
- checker.py: the invariants, read from the fake's state and the dead letters
- soak.py: the run (ticks, faults, replay and catch-up steps)
- worker.py: the snapshot handler driven by streaming pull
"""
