"""Where training and test samples come from: arrays in memory (e.g. a materialised dataset read
with :func:`isac_jax.cellfree.load_split`) or the key-indexed Paper B generator, streamed.

Both give batches by sample position and are deterministic, so training is reproducible and
resumable with either. Streaming holds one batch in memory and lets a run use a training set far
larger than memory (the generator is ~10x faster than a quick-preset training step on a CPU).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from ..cellfree.config import CellFreeConfig
from ..cellfree.dataset import sample_batch, sample_labels

_FIELDS = ("Y", "X", "targets", "velocities")


class ArraySplit:
    """A split held as arrays ``Y[n, M, M_r, N_s, T_s]``, ``X[n, N, N_t, N_s, T_s]``, ``targets[n, Q, 2]``,
    ``velocities[n, Q, 2]``."""

    def __init__(self, data: dict):
        missing = [k for k in _FIELDS if k not in data]
        if missing:
            raise ValueError(f"data must hold arrays {', '.join(_FIELDS)}; missing {', '.join(missing)}")
        n = {len(data[k]) for k in _FIELDS}
        if len(n) != 1:
            raise ValueError(f"data arrays must have the same length, got { {k: len(data[k]) for k in _FIELDS} }")
        self.data = data

    def __len__(self) -> int:
        return len(self.data["Y"])

    def batch(self, positions) -> dict:
        return {k: self.data[k][positions] for k in _FIELDS}

    def labels(self) -> dict:
        return {k: np.asarray(self.data[k]) for k in ("targets", "velocities")}


@dataclasses.dataclass(frozen=True)
class GeneratedSplit:
    """Samples ``start .. stop-1`` of the generator ``sample_batch(PRNGKey(seed), ., system)``."""

    system: CellFreeConfig
    seed: int
    start: int
    stop: int

    def __post_init__(self):
        if not 0 <= self.start < self.stop:
            raise ValueError(f"need 0 <= start < stop, got start={self.start}, stop={self.stop}")

    def __len__(self) -> int:
        return self.stop - self.start

    def batch(self, positions) -> dict:
        """The samples at ``positions`` (ints in ``0 .. len - 1``, counted from ``start``). A position
        past the split would silently draw a sample of the next split (the test set after the
        training set), so it is refused."""
        pos = np.asarray(positions)
        if pos.size and (pos.min() < 0 or pos.max() >= len(self)):
            raise IndexError(f"positions must lie in 0 .. {len(self) - 1} (samples {self.start} .. {self.stop - 1} "
                             f"of the generator), got {pos.min()} .. {pos.max()}")
        out = sample_batch(jax.random.PRNGKey(self.seed), self.start + pos, self.system)
        return {k: np.asarray(out[k]) for k in _FIELDS}

    def labels(self, chunk: int = 4096) -> dict:
        parts = [sample_labels(jax.random.PRNGKey(self.seed), np.arange(a, min(a + chunk, self.stop)), self.system)
                 for a in range(self.start, self.stop, chunk)]
        return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in ("targets", "velocities")}


def as_split(data):
    """``dict`` -> :class:`ArraySplit`; a split is returned unchanged."""
    if isinstance(data, (ArraySplit, GeneratedSplit)):
        return data
    if isinstance(data, dict):
        return ArraySplit(data)
    raise ValueError(f"data must be a dict of arrays, an ArraySplit or a GeneratedSplit, got {type(data).__name__}")
