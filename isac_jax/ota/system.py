"""The Paper A system: one frozen config for every Paper A experiment and simulation.

K devices with M antennas, a PS with N antennas, I tasks, frames of T symbol intervals, the
device power budget P, the PS receiver noise sigma^2 (A.3), the echo noise varsigma^2 (A.8) and the
path-loss constants of (A.9). Sec. V.A defaults, powers in W. Every experiment takes a
``PaperASystem`` (overriding the fields it varies), like Paper B's
:class:`~isac_jax.cellfree.CellFreeConfig`; the design solver settings, the FEEL protocol and the
learning task live in their own configs beside it.
"""

from __future__ import annotations

import dataclasses

from ..core.validate import check_int, check_positive


@dataclasses.dataclass(frozen=True)
class PaperASystem:
    """Physical settings of Paper A (Sec. V.A; powers in W, lengths in m).

    ``echo_noise_var_w`` is ``varsigma_k^2`` for every device; ``alpha0`` and ``gamma`` set the echo
    amplitude ``alpha_k = alpha0 / d_k^gamma`` of (A.9) (SPEC: gamma = 1, the radar equation).
    """

    n_devices: int = 15
    n_antennas: int = 4
    n_ps_antennas: int = 16
    n_tasks: int = 2
    frame_length: int = 32
    power_w: float = 1.0
    noise_var_w: float = 1e-2
    echo_noise_var_w: float = 1e-5
    alpha0: float = 1.0
    gamma: float = 1.0

    def __post_init__(self):
        for name in ("n_devices", "n_antennas", "n_ps_antennas", "n_tasks", "frame_length"):
            check_int(name, getattr(self, name))
        for name in ("power_w", "noise_var_w", "echo_noise_var_w", "alpha0", "gamma"):
            check_positive(name, getattr(self, name))

    def replace(self, **changes) -> "PaperASystem":
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def path_loss(self) -> dict:
        """``dict(alpha0=..., gamma=...)``, the keyword arguments of the echo and bound functions."""
        return {"alpha0": self.alpha0, "gamma": self.gamma}
