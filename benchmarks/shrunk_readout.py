"""Paper B learning: a confidence-shrunk read-out of the ``centre`` head (the Bayes read-out for an
RMSE score), on a checkpoint of ``learning_limits.py``.

The default D-VQVAE's missed target sits on a sidelobe or ghost about 50 m away, worse than the trivial
point. This reads the trained model's two peaks and their logits (:func:`isac_jax.dvqvae.heads.centre_peaks`)
and replaces each estimate by ``w read + (1 - w) mean``, ``w = sigmoid(a logit + b)`` (one ``(a, b)`` for the
position, one for the velocity; ``mean`` the training-label mean), the four numbers fitted by Adam to the
assigned squared error on 2,000 calibration samples after the test set (neither training nor test). It
prints both read-outs' RMSEs and "both found" on the test set.

Usage: python benchmarks/shrunk_readout.py STEPS:N_TRAIN WORK_DIR   (the spec and --out of a
learning_limits.py run with the default system and network; it resumes / reuses that checkpoint)
"""
import dataclasses
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from isac_jax.dvqvae import SensingModel
from isac_jax.dvqvae.data import GeneratedSplit
from isac_jax.dvqvae.heads import centre_peaks
from isac_jax.dvqvae.targets import assigned_differences
from isac_jax.dvqvae.training import evaluate, fit, labels_of, trivial_prediction
from isac_jax.experiments.paper_b import train as b_train

sys.path.insert(0, str(Path(__file__).parent))
from learning_limits import _name, found_breakdown  # noqa: E402

spec, work = sys.argv[1], Path(sys.argv[2])
steps, n_train = map(int, spec.split(":")[:2])
base = b_train.PRESETS["quick"].setup
setup = dataclasses.replace(base, steps=steps, n_train=n_train, epochs=-(-steps * 32 // n_train))
train, test = setup.splits(0)
sysc = setup.system()
model = SensingModel("dvqvae", setup.net(), sysc)
res = fit(model, setup.train_config(), train, seed=0, checkpoint=work / f"{_name(spec, ())}.ckpt", progress=False)
G, Q = model.net.heatmap_grid, sysc.n_targets

@jax.jit
def raw_reads(params, book, Y, X):
    raw = model.estimate_from_indices(params, book, model.ap_indices(params, book, Y, X), X)
    return centre_peaks(raw, Q, G)

def collect(split):
    r, l = [], []
    for a in range(0, len(split), 64):
        bt = split.batch(np.arange(a, min(a + 64, len(split))))
        rr, ll = raw_reads(res.state.params, res.state.book, jnp.asarray(bt["Y"]), jnp.asarray(bt["X"]))
        r.append(np.asarray(rr))
        l.append(np.asarray(ll))
    return np.concatenate(r), np.concatenate(l)

t0 = time.time()
cal = GeneratedSplit(sysc, 0, n_train + 1000, n_train + 3000)
rc, lc = collect(cal); rt, lt = collect(test)
print("collected", time.time() - t0, flush=True)
scaler = res.scaler
mean = jnp.asarray(trivial_prediction(train, 1, scaler)[0, 0])     # [4] normalised
true_c = jnp.asarray(scaler.normalise(labels_of(cal)))

def shrink(theta, reads, logits):
    wg = jax.nn.sigmoid(theta[0] * logits + theta[1])[..., None]
    wv = jax.nn.sigmoid(theta[2] * logits + theta[3])[..., None]
    w = jnp.concatenate([jnp.broadcast_to(wg, reads[..., :2].shape), jnp.broadcast_to(wv, reads[..., 2:].shape)], -1)
    return w * reads + (1 - w) * mean

def loss(theta):
    d = assigned_differences(shrink(theta, jnp.asarray(rc), jnp.asarray(lc)), true_c, scaler)
    return jnp.mean(jnp.sum(d[..., :2] ** 2, -1)) / 1600 + jnp.mean(jnp.sum(d[..., 2:] ** 2, -1)) / 256

theta = jnp.array([1.0, 3.0, 1.0, 3.0])
opt = optax.adam(0.05)
st = opt.init(theta)
g = jax.jit(jax.value_and_grad(loss))
for i in range(400):
    v, gr = g(theta)
    up, st = opt.update(gr, st)
    theta = optax.apply_updates(theta, up)
print("theta", np.asarray(theta), "loss", float(v))
for name, est in (("peaks", rt), ("shrunk", np.asarray(shrink(theta, jnp.asarray(rt), jnp.asarray(lt))))):
    e = evaluate(est, test, scaler)
    f = found_breakdown(est, test, scaler)
    print(name, round(e["location_rmse_m"], 2), round(e["velocity_rmse_mps"], 2), f)
print("logit quantiles test (first, second peak)", np.quantile(lt, [0.1, 0.5, 0.9], axis=0))
