"""The result of one gate on one partition, the same type for every plane."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Outcome:
    """Whether a gate passed, a one-line summary a person can act on, and figures for the UI."""

    passed: bool
    summary: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def all_of(parts: list[Outcome], totals: tuple[str, ...] = ()) -> Outcome:
        """One outcome from several: passes if each does; ``totals`` names figures summed over the parts."""
        return Outcome(
            all(p.passed for p in parts),
            "; ".join(p.summary for p in parts),
            {name: sum(p.metadata[name] for p in parts) for name in totals},
        )
