"""The emulated lab: a fleet of Dropbear + BusyBox devices in namespaces on this machine.

See fleet/lab/README.md for the devices, workloads and the findings each should produce.
"""

from fleet.lab.lab import (
    Lab,
    LabDevice,
    LabError,
    check_host,
    free_subnet,
    lab_status,
    load_lab,
    set_firmware,
    start_lab,
    stop_lab,
)

__all__ = [
    "Lab",
    "LabDevice",
    "LabError",
    "check_host",
    "free_subnet",
    "lab_status",
    "load_lab",
    "set_firmware",
    "start_lab",
    "stop_lab",
]
