"""Open the platform a spec names."""

from __future__ import annotations

from pathlib import Path

from runner.platforms.base import Platform
from runner.spec.model import Spec


def open_platform(spec: Spec, state_dir: Path) -> Platform:
    """The platform of ``spec``; ``state_dir`` holds local job results (and the state)."""
    if spec.platform.type == "trifacta":
        from runner.platforms.trifacta.platform import TrifactaPlatform

        return TrifactaPlatform(spec)
    if spec.platform.type == "spark":
        from runner.platforms.spark.platform import SparkPlatform

        return SparkPlatform(spec, state_dir)
    from runner.platforms.local.platform import LocalPlatform

    return LocalPlatform(spec, state_dir)
