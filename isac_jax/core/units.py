"""Decibel and power-unit conversions (pure, jit-able, elementwise).

``db_to_linear`` and ``dbm_to_watt`` keep the input's type: a Python float stays a float (config
properties), an array stays an array of its dtype."""

from __future__ import annotations

import jax.numpy as jnp


def db_to_linear(db):
    """Power ratio in dB -> linear ratio: ``10**(db/10)``."""
    return 10.0 ** (db / 10.0)


def linear_to_db(x):
    """Linear power ratio -> dB: ``10 log10(x)``."""
    return 10.0 * jnp.log10(jnp.asarray(x))


def dbm_to_watt(dbm):
    """Power in dBm -> watts: ``10**((dbm - 30)/10)``."""
    return 10.0 ** ((dbm - 30.0) / 10.0)


def watt_to_dbm(watt):
    """Power in watts -> dBm: ``10 log10(watt) + 30``."""
    return 10.0 * jnp.log10(jnp.asarray(watt)) + 30.0
