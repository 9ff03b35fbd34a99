"""Process-level JAX set-up that entry points do before JAX creates its backends."""

from __future__ import annotations

import os

CPU_DEVICES_FLAG = "--xla_force_host_platform_device_count"


def split_cpu_into_core_devices(num_devices: int | None = None) -> None:
    """Expose one XLA CPU device per core (unless XLA_FLAGS already sets a count).

    Data-parallel steps over per-core CPU devices keep both cores busy on the many small ops of
    a recommender step, where one multi-threaded device leaves them idle; on a machine with an
    accelerator this only changes the host platform, which JAX does not use for computation.
    Call it in an entry point before JAX creates its CPU backend (the first use of a device;
    importing jax does not create it), never at import time.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if CPU_DEVICES_FLAG in flags:
        return
    if num_devices is None:
        num_devices = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                       else os.cpu_count() or 1)
    os.environ["XLA_FLAGS"] = f"{flags} {CPU_DEVICES_FLAG}={num_devices}".strip()
