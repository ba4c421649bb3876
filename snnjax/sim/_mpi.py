"""MPI plumbing: is this process one of several ``mpirun`` ranks, and abort-on-error.

``mpi4py`` is imported lazily (the ``mpi`` extra); nothing here runs without ``mpirun``.
"""

import os
import sys
import traceback

_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS")


def under_mpirun() -> bool:
    """Started by ``mpirun``/``srun`` with more than one process (Open MPI, MPICH, Slurm)."""
    return any(int(os.environ.get(k, "1")) > 1 for k in _SIZE_VARS)


def mpi():
    """The ``mpi4py.MPI`` module, with a clear error when the ``mpi`` extra is missing."""
    try:
        from mpi4py import MPI
    except ImportError as err:  # pragma: no cover - the extra is installed by make
        raise ImportError(
            "MPI runs need mpi4py and mpi4jax: pip install 'snnjax[mpi]' (with Open MPI: "
            "apt-get install openmpi-bin libopenmpi-dev)"
        ) from err
    return MPI


def abort_on_error() -> None:
    """Under ``mpirun``: an uncaught exception on any rank prints its traceback and aborts
    the whole job (``MPI_Abort``), so the other ranks do not wait forever in a collective."""
    if not under_mpirun():
        return
    world = mpi().COMM_WORLD

    def hook(kind, value, tb):
        rank = world.Get_rank()
        text = "".join(traceback.format_exception(kind, value, tb))
        sys.stderr.write(f"[rank {rank}] {text}[rank {rank}] aborting the MPI job\n")
        sys.stderr.flush()
        world.Abort(1)

    sys.excepthook = hook
