"""The experiment record: what the registry, the CLI and the report know about each experiment."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One reproduced figure or table.

    ``name`` is the CLI name (``a-fig4``), ``paper`` ``"A"`` or ``"B"``, ``description`` one line;
    ``presets`` maps ``"quick"`` / ``"paper"`` to a frozen config; ``run(config, *, seed, work_dir,
    progress) -> results`` and ``plot(results, path)``. ``Config`` is the presets' config type.
    """

    name: str
    paper: str
    description: str
    presets: Mapping[str, Any]
    run: Callable
    plot: Callable

    def __post_init__(self):
        if self.paper not in ("A", "B"):
            raise ValueError(f"paper must be 'A' or 'B', got {self.paper!r}")
        if set(self.presets) != {"quick", "paper"}:
            raise ValueError(f"{self.name}: presets must be exactly 'quick' and 'paper', got {sorted(self.presets)}")

    @property
    def Config(self) -> type:
        return type(self.presets["quick"])
