"""Pure parsers for the /proc files a capture holds: text in, frozen dataclass out, no I/O.

Every parser raises :class:`ParseError` (a ``ValueError``) on bad input and nothing else.
"""

from fleet.procfs.errors import ParseError
from fleet.procfs.loadavg import Loadavg, parse_loadavg
from fleet.procfs.mapclass import CLASSES, ClassTotal, MapsClassification, classify_maps
from fleet.procfs.maps import Maps, Vma, parse_maps
from fleet.procfs.meminfo import Meminfo, parse_meminfo
from fleet.procfs.slabinfo import SlabCache, Slabinfo, parse_slabinfo, slab_bytes
from fleet.procfs.smaps import (
    Smaps,
    SmapsEntry,
    SmapsRollup,
    parse_smaps,
    parse_smaps_rollup,
    rollup_from_smaps,
)
from fleet.procfs.stat import Stat, parse_stat
from fleet.procfs.statm import Statm, parse_statm
from fleet.procfs.status import Status, parse_status
from fleet.procfs.uptime import Uptime, parse_uptime

__all__ = [
    "CLASSES",
    "ClassTotal",
    "Loadavg",
    "Maps",
    "MapsClassification",
    "Meminfo",
    "ParseError",
    "SlabCache",
    "Slabinfo",
    "Smaps",
    "SmapsEntry",
    "SmapsRollup",
    "Stat",
    "Statm",
    "Status",
    "Uptime",
    "Vma",
    "classify_maps",
    "parse_loadavg",
    "parse_maps",
    "parse_meminfo",
    "parse_slabinfo",
    "parse_smaps",
    "parse_smaps_rollup",
    "parse_stat",
    "parse_statm",
    "parse_status",
    "parse_uptime",
    "rollup_from_smaps",
    "slab_bytes",
]
