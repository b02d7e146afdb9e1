"""The experiment record: what the registry, the CLI and the report know about each experiment,
and each preset's expected wall time on a 2-core CPU (:data:`CPU_TIME`, the one place it is kept)."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

#: Wall time of ``isac-jax reproduce NAME --preset quick`` / ``--preset paper`` on the 2-core x86_64
#: development CPU (jax 0.10), as measured in the runs recorded in the project's benchmark notes;
#: "+" marks a run that shared the CPU with other jobs (an upper bound), "unmeasured" a preset never
#: timed on a CPU (most paper presets are meant for a GPU). ``isac-jax list`` and ``--help`` show it;
#: a new experiment needs an entry (tests/test_cli.py checks it). An experiment whose work changes
#: (more schemes, repeats, a second start) goes back to "unmeasured" until it is timed again.
CPU_TIME: dict[str, tuple[str, str]] = {
    "a-fig2": ("3.8 min+", "unmeasured"),
    "a-fig3": ("22 min+", "unmeasured"),
    "a-fig4": ("101 min+", "unmeasured"),
    "a-fig5": ("1.9 min", "unmeasured"),
    "a-fig6": ("5.0 min", "unmeasured"),
    "a-fig7": ("2.3 min", "unmeasured"),
    "a-fig8": ("unmeasured", "unmeasured"),
    "a-fig9": ("40 min+", "unmeasured"),
    "a-fig10": ("22 min+", "unmeasured"),
    "a-fig11": ("9 s+", "10 s+"),
    "a-ml-vs-crb": ("15 min+", "unmeasured"),
    "a-pareto-crb": ("unmeasured", "unmeasured"),
    "b-crlb": ("41 s", "unmeasured"),
    "b-fig6": ("13 min+", "unmeasured"),
    "b-fig7": ("unmeasured", "unmeasured"),
    "b-fig8": ("unmeasured", "unmeasured"),
    "b-fig9": ("unmeasured", "unmeasured"),
    "b-fig10": ("unmeasured", "unmeasured"),
    "b-fig13": ("unmeasured", "unmeasured"),
    "b-fig14": ("unmeasured", "unmeasured"),
    "b-design-aps": ("4.3 min+", "unmeasured"),
    "b-overhead": ("10 s+", "12 s+"),
    "b-train": ("unmeasured", "unmeasured"),
    "b-fig11": ("15 min+", "unmeasured"),
    "b-fig12": ("22 min+", "unmeasured"),
    "b-table3": ("13 min+", "unmeasured"),
    "b-learnability": ("unmeasured", "unmeasured"),
    "b-learned-curves": ("unmeasured", "unmeasured"),
}


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

    @property
    def expected_time(self) -> dict:
        """``{"quick": str, "paper": str}``: each preset's expected wall time on a 2-core CPU
        (:data:`CPU_TIME`; "unmeasured" where none was measured)."""
        quick, paper = CPU_TIME.get(self.name, ("unmeasured", "unmeasured"))
        return {"quick": quick, "paper": paper}
