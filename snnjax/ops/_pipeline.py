r"""Multi-device time pipeline: split the time axis over devices, hand the state along.

Device ``d`` of a mesh axis of size ``D`` owns time steps ``[d·T/D, (d+1)·T/D)``. The batch
is cut into ``M`` micro-batches that flow through the devices like a pipeline: at tick
``k`` device ``d`` scans micro-batch ``m = k − d`` over its time chunk (with
:func:`~snnjax.ops.neuron_scan`, fused kernels on GPU) starting from the state that device
``d − 1`` handed over at tick ``k − 1`` (``ppermute``), so after a fill of ``D − 1`` ticks all
devices work at once. The backward is JAX's transpose of the same program: the cotangent
of the state travels back along the ring, again pipelined.

Cost model (Li et al. 2024): with ``T_s`` the single-device scan time of the whole batch
and ``T_c`` the cost of one state hand-off,

.. math::
    T(D, M) \approx (D + M - 1)\left(\frac{T_s}{D M} + T_c\right)
    \xrightarrow{M \gg D} \frac{T_s}{D} + M\,T_c ,

and without micro-batching (``M = 1``) :math:`T \approx T_s + D\,T_c`: no gain. With enough
micro-batches the best device count is near :math:`\sqrt{T_s / T_c}` when ``M`` is tied
to ``D`` (``T \approx T_s/D + D T_c``). Splitting time only pays when one device's scan is
long against the hand-off (long ``T``, many neurons per device); ``docs/architecture.md``
records where it has been measured.
"""

import functools

import jax
import jax.numpy as jnp
from jax.sharding import AxisType, Mesh
from jax.sharding import PartitionSpec as P

from .._types import PyTree, Sequence
from ..neurons import NeuronModel
from ._common import ScanResult, prepare


def neuron_scan_pipelined(
    model: NeuronModel,
    params: PyTree,
    x: Sequence,
    state: PyTree | None = None,
    *,
    mesh: jax.sharding.Mesh,
    axis_name: str,
    micro_batches: int = 1,
    **scan_kwargs,
) -> ScanResult:
    """:func:`~snnjax.ops.neuron_scan` with the time axis split over a mesh axis.

    Args:
        model, params, x, state: as for :func:`~snnjax.ops.neuron_scan` (``x`` time-major).
        mesh: the device mesh.
        axis_name: the mesh axis that splits time; its size ``D`` must divide ``T``.
        micro_batches: pipeline micro-batches ``M``; must divide the batch size ``B``.
        **scan_kwargs: passed to ``neuron_scan`` on each device (``impl``, ``memory``,
            ``block_sizes``); ``return_traces`` is not supported here.

    Returns:
        ``ScanResult(outputs, final_state, None)``, equal to the single-device scan.
    """
    x, state = prepare(model, params, x, state)
    if axis_name not in mesh.shape:
        raise ValueError(f"`axis_name` must be one of {tuple(mesh.shape)}; got {axis_name!r}")
    D = mesh.shape[axis_name]
    T, B = x.shape[0], x.shape[1]
    if T % D:
        raise ValueError(f"T={T} must be a multiple of the `{axis_name}` axis size {D}")
    if not isinstance(micro_batches, int) or micro_batches < 1 or B % micro_batches:
        raise ValueError(
            f"`micro_batches` must be a positive int dividing the batch size B={B}; "
            f"got {micro_batches!r}"
        )
    if scan_kwargs.get("return_traces"):
        raise ValueError("`return_traces` is not supported by the time pipeline")
    run = functools.partial(
        _pipeline, model, axis_name=axis_name, D=D, M=micro_batches, scan_kwargs=scan_kwargs
    )
    # An automatic-sharding view of the devices: inputs are placed by the partitioner, and
    # the program (and its transpose) needs no mesh context.
    auto_mesh = Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,) * mesh.devices.ndim)
    sharded = jax.shard_map(
        run,
        mesh=auto_mesh,
        in_specs=(P(), P(), P(axis_name)),
        out_specs=(P(axis_name), P()),
        check_vma=False,
    )
    outputs, final = jax.jit(sharded)(params, state, x)
    return ScanResult(outputs, final, None)


def _pipeline(model, params, state0, x_local, *, axis_name, D, M, scan_kwargs):
    from ._neuron_scan import neuron_scan  # circular at import time

    d = jax.lax.axis_index(axis_name)
    Tl, B = x_local.shape[0], x_local.shape[1]
    mb = B // M
    split = functools.partial(jax.tree.map, lambda a: a.reshape(M, mb, *a.shape[1:]))
    x_mb = x_local.reshape(Tl, M, mb, *x_local.shape[2:])
    state0_mb = split(state0)
    to_next = [(i, i + 1) for i in range(D - 1)]

    def tick(incoming, k):
        m = jnp.clip(k - d, 0, M - 1)
        first = jax.tree.map(lambda a: a[m], state0_mb)
        s_in = jax.tree.map(lambda a, b: jnp.where(d == 0, a, b), first, incoming)
        res = neuron_scan(model, params, x_mb[:, m], s_in, **scan_kwargs)
        outgoing = jax.tree.map(lambda a: jax.lax.ppermute(a, axis_name, to_next), res.final_state)
        return outgoing, (res.outputs, res.final_state)

    blank = jax.tree.map(lambda a: jnp.zeros_like(a[0]), state0_mb)
    _, (outs, finals) = jax.lax.scan(tick, blank, jnp.arange(D + M - 1))
    # Micro-batch m passed this device at tick m + d.
    ticks = d + jnp.arange(M)
    outputs = jnp.moveaxis(outs[ticks], 0, 1).reshape(Tl, B, *x_local.shape[2:])
    # The final state is the last device's; share it with every device.
    mine = jax.tree.map(lambda a: a[ticks].reshape(B, *a.shape[2:]), finals)
    final = jax.tree.map(lambda a: jax.lax.psum(jnp.where(d == D - 1, a, 0), axis_name), mine)
    return outputs, final
