"""Multi-process runs with JAX's own runtime (`jax.distributed`).

One process per host (or per GPU, or per slice of CPU devices) runs the same program; each sees
its local devices and all of them form one global mesh. A run is multi-process when

* the coordinator is given explicitly: the environment variables RECALL_JAX_COORDINATOR
  (host:port of process 0), RECALL_JAX_NUM_PROCESSES and RECALL_JAX_PROCESS_ID
  (`scripts/run_local_multiprocess.sh` sets them), or
* a cluster environment that `jax.distributed.initialize()` recognises by itself is present
  with more than one task: SLURM (`srun`), Open MPI (`mpirun`), or a multi-host Cloud TPU slice.

Otherwise `initialize` does nothing: a single process needs no coordinator.
"""

from __future__ import annotations

import os

import jax
from absl import logging

from recall_jax.errors import ConfigError

COORDINATOR = "RECALL_JAX_COORDINATOR"
NUM_PROCESSES = "RECALL_JAX_NUM_PROCESSES"
PROCESS_ID = "RECALL_JAX_PROCESS_ID"


def _cluster_tasks() -> int:
    """How many tasks the surrounding cluster launcher started (1 when there is none)."""
    for name in ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    hosts = os.environ.get("TPU_WORKER_HOSTNAMES", "")
    return len([host for host in hosts.split(",") if host]) or 1


def _explicit_setting() -> tuple[str, int, int] | None:
    """(coordinator, num_processes, process_id) from the RECALL_JAX_* variables, or None."""
    values = {name: os.environ.get(name) for name in (COORDINATOR, NUM_PROCESSES, PROCESS_ID)}
    if not any(values.values()):
        return None
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ConfigError(f"multi-process run: {', '.join(missing)} not set ; set all of "
                          f"{COORDINATOR}, {NUM_PROCESSES} and {PROCESS_ID}, or none")
    try:
        count, index = int(values[NUM_PROCESSES]), int(values[PROCESS_ID])
    except ValueError:
        raise ConfigError(f"{NUM_PROCESSES}={values[NUM_PROCESSES]!r} and "
                          f"{PROCESS_ID}={values[PROCESS_ID]!r} must be integers") from None
    if not 0 <= index < count:
        raise ConfigError(f"{PROCESS_ID}={index} must lie in 0..{count - 1} "
                          f"({NUM_PROCESSES}={count})")
    return values[COORDINATOR], count, index


def initialize() -> bool:
    """Join the multi-process run this process belongs to, if any; True when multi-process.

    Call it once, before any computation, in every process."""
    explicit = _explicit_setting()
    if explicit is not None:
        coordinator, count, index = explicit
        jax.distributed.initialize(coordinator_address=coordinator, num_processes=count,
                                   process_id=index)
    elif _cluster_tasks() > 1:
        jax.distributed.initialize()  # the cluster's own environment says who is who
    else:
        return False
    logging.info("process %d of %d, %d local devices of %d", jax.process_index(),
                 jax.process_count(), jax.local_device_count(), jax.device_count())
    return True


def check_mesh_layout(model_parallelism: int) -> None:
    """The model axis must stay within a process: its collectives (the item table's row lookups
    and the ranking's merges, every step) would otherwise cross the slow link between hosts.

    The data axis then holds a whole number of processes, as the input pipeline (each process
    feeds its own rows) requires."""
    local = jax.local_device_count()
    if jax.process_count() > 1 and local % model_parallelism:
        raise ConfigError(
            f"config.mesh.model_parallelism={model_parallelism} does not divide the "
            f"{local} devices of each process ({jax.process_count()} processes): the model "
            "axis must stay within a process ; choose a divisor of the local device count")
