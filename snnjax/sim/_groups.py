"""The neurons' part of a block: populations of one model grouped, and the block's steps
of every group, by the native block kernel of its model (``csrc/neuron_exact.cc``) or in
one scan over the steps (:func:`step_groups`).

``layout`` and ``arrays`` are :mod:`._network`'s ``Layout`` and ``NetworkArrays``.
"""

import jax
import jax.numpy as jnp

from .models import RECORDABLES

__all__ = ["groups_of", "merge", "split", "step_groups"]


def groups_of(layout, arrays) -> tuple[tuple[int, ...], ...]:
    """Consecutive populations of one model, stepped as one (fewer operations per step; a
    model's step is elementwise per neuron, so the numbers are the same): the population
    indices of each group. A population whose arrays are not all per neuron stays alone."""
    groups: list[list[int]] = []
    for p, (model, (lo, hi)) in enumerate(zip(layout.models, layout.slices, strict=True)):
        leaves = jax.tree.leaves((arrays.params[p], arrays.props[p]))
        ok = all(jnp.ndim(x) >= 1 and jnp.shape(x)[0] == hi - lo for x in leaves)
        if ok and groups and groups[-1][-1] >= 0 and layout.models[groups[-1][-1]] == model:
            groups[-1].append(p)
        else:
            groups.append([p] if ok else [p, -1])  # -1: closed to others
    return tuple(tuple(i for i in g if i >= 0) for g in groups)


def merge(trees: tuple, groups) -> tuple:
    """Per-population pytrees -> per-group (concatenated along the neuron axis)."""
    return tuple(
        trees[g[0]] if len(g) == 1
        else jax.tree.map(lambda *x: jnp.concatenate(x), *(trees[p] for p in g))
        for g in groups
    )  # fmt: skip


def split(layout, trees: tuple, groups) -> tuple:
    """Per-group pytrees -> per-population (the inverse of :func:`merge`)."""
    out = []
    for tree, g in zip(trees, groups, strict=True):
        base = layout.slices[g[0]][0]
        for p in g:
            lo, hi = (x - base for x in layout.slices[p])
            out.append(tree if len(g) == 1 else jax.tree.map(lambda x, a=lo, b=hi: x[a:b], tree))
    return tuple(out)


def _sample(layout, arrays, groups, params, neurons) -> jax.Array:
    """The sampled recordables after a step, from the groups' params and states."""
    out = []
    for g, par, state in zip(groups, params, neurons, strict=True):
        base = layout.slices[g[0]][0]
        for p in g:
            model, offset = layout.models[p], layout.slices[p][0] - base
            for name in layout.sampled[p]:
                field = RECORDABLES[model.name][name]
                value = model.V_m(par, state) if field is None else getattr(state, field)
                out.append(value[offset + arrays.sample_index[p]])
    return jnp.concatenate(out) if out else jnp.zeros(0, jnp.float32)


def _by_kernel(layout, group: tuple[int, ...], steps: int) -> bool:
    """Whether the native block kernel steps ``group`` in blocks of ``steps`` steps: its
    model has one, nothing of it is sampled (a multimeter needs every step's state), and
    a block has several steps or the model's ODE is a native kernel anyway (XLA fuses an
    exact model's one-step block with the rest of the block: Brette's CUBA, 4,000
    neurons, ran in 0.18 s that way, 0.25 s by the kernel)."""
    model = layout.models[group[0]]
    return (layout.native and model.has_native_block and (steps > 1 or model.numerical)
            and not any(layout.sampled[p] for p in group))  # fmt: skip


def _non_finite(states) -> jax.Array:
    """Neurons with a non-finite state value (a solver failure; the fields of one shape
    tested together, one count per shape: a count per field cost three small XLA kernels
    each, every block)."""
    finite = {}
    for x in jax.tree.leaves(states):
        if jnp.issubdtype(x.dtype, jnp.floating):
            finite[x.shape] = finite.get(x.shape, True) & jnp.isfinite(x)
    return sum((jnp.sum(~ok) for ok in finite.values()), jnp.int32(0))


def step_groups(layout, arrays, grouped, neurons: tuple, taken, live):
    """The block's steps of every group (neurons do not interact within a block): the
    groups with a native block kernel (:func:`_by_kernel`) by one call each, the others in
    one scan over the steps. ``taken``: ``float32[3, steps, n]`` inputs; returns
    ``(neurons, spikes [steps, n], samples [steps, k], bad)``, ``bad`` > 0 where a
    neuron's state became non-finite (the kernels count their own neurons, in cache)."""
    groups, params, props = grouped
    steps = taken.shape[1]
    lohi = [(layout.slices[g[0]][0], layout.slices[g[-1]][1]) for g in groups]
    native = [_by_kernel(layout, g, steps) for g in groups]
    scanned = [k for k, by_kernel in enumerate(native) if not by_kernel]
    new, spikes = list(neurons), [None] * len(groups)
    samples = jnp.zeros((steps, 0), jnp.float32)

    def step(states, xs):
        in_ex, in_in, i_stim, on = xs
        out, sp = [], []
        for k, s in zip(scanned, states, strict=True):
            (lo, hi), model = lohi[k], layout.models[groups[k][0]]
            s, x = model.step(props[k], params[k], s, in_ex[lo:hi], in_in[lo:hi], i_stim[lo:hi],
                              native=layout.native, threads=layout.threads)  # fmt: skip
            out.append(s)
            sp.append(x)
        out, sp = tuple(out), jnp.concatenate(sp)
        if steps > 1:  # a block of one step runs only if it is live
            out = jax.tree.map(lambda a, b: jnp.where(on, a, b), out, states)
            sp = jnp.where(on, sp, 0)
        pick = [groups[k] for k in scanned], [params[k] for k in scanned]
        return out, (sp, _sample(layout, arrays, *pick, out))

    if scanned:
        xs = (*taken, jnp.arange(steps) < live)
        out, (sp, samples) = jax.lax.scan(step, tuple(neurons[k] for k in scanned), xs)
        at = 0
        for k, s in zip(scanned, out, strict=True):
            new[k], size = s, lohi[k][1] - lohi[k][0]
            spikes[k], at = sp[:, at : at + size], at + size
    bad = _non_finite([new[k] for k in scanned])
    for k in (k for k, by_kernel in enumerate(native) if by_kernel):
        new[k], spikes[k], n = layout.models[groups[k][0]].native_block(
            props[k], params[k], neurons[k], taken, live, lo=lohi[k][0], threads=layout.threads
        )
        bad = bad + n
    return tuple(new), jnp.concatenate(spikes, axis=1), samples, bad
