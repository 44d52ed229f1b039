"""snapkeeper: scheduled, label-driven snapshots of Compute Engine disks."""

__version__ = "0.1.0"
