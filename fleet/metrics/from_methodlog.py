"""Turn one round of a method log (:mod:`fleet.capture.methodlog`) into :class:`DeviceMetrics`.

The loop records no thread count, stat or fds: those stay unknown. Never raises on device data: a
dump that does not parse becomes a line in ``problems``.
"""

from __future__ import annotations

from fleet.capture.methodlog import MethodBlock
from fleet.metrics.fields import maps_fields, memory_fields, try_parse
from fleet.metrics.model import DeviceMetrics, ProcessMetrics
from fleet.procfs import classify_maps, parse_maps, parse_meminfo, slab_bytes


def metrics_from_block(block: MethodBlock, *, pid: int = 0, name: str | None = None) -> DeviceMetrics:
    """Metrics of one round. The process identity is (``pid``, start time 0): the log cannot tell
    a restart apart."""
    problems: list[str] = []
    meminfo = try_parse(parse_meminfo, block.meminfo or None, problems, "")
    slab = try_parse(slab_bytes, block.slabinfo or None, problems, "")
    processes: tuple[ProcessMetrics, ...] = ()
    cls = try_parse(lambda text: classify_maps(parse_maps(text)), block.maps or None, problems, "maps: ")
    if cls is not None:
        exe = cls.exe
        processes = (
            ProcessMetrics(
                pid=pid,
                start_time=0,
                name=name or (exe.rsplit("/", 1)[-1][:15] if exe else f"pid {pid}"),
                vm_size=sum(t.bytes for t in cls.totals.values()),
                **maps_fields(cls),
            ),
        )
    return DeviceMetrics(
        **memory_fields(meminfo), slab=slab or {}, processes=processes, problems=tuple(problems)
    )
