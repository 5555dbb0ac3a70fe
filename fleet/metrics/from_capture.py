"""Turn one split capture into :class:`fleet.metrics.DeviceMetrics`.

Never raises on device data: a file that does not parse becomes a line in ``problems`` and the
rest of the sample is still used (the raw capture is stored beside it, so a fixed parser can
re-read it later).
"""

from __future__ import annotations

import hashlib
from collections import Counter

from fleet.capture.split import Capture, ProcessCapture
from fleet.metrics.fields import maps_fields, memory_fields, try_parse
from fleet.metrics.firmware import firmware_identity
from fleet.metrics.limits import MAX_MAPPINGS, MAX_SLAB_CACHES, MAX_THREAD_NAMES
from fleet.metrics.model import MAPS_FIELDS, DeviceMetrics, ProcessMetrics
from fleet.procfs import (
    MapsClassification,
    SmapsRollup,
    Stat,
    Statm,
    Status,
    classify_maps,
    parse_loadavg,
    parse_maps,
    parse_meminfo,
    parse_smaps_rollup,
    parse_stat,
    parse_statm,
    parse_status,
    parse_uptime,
    slab_bytes,
)

# Part of every maps digest: bump it when parse_maps or classify_maps change what they find, so
# figures stored by an older fleet are never copied as if this one had computed them.
CLASSIFIER = b"mapclass 1\0"


def maps_digest(text: str) -> str:
    """Names one maps dump's content: the same digest, the same classification."""
    return hashlib.blake2b(CLASSIFIER + text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _classified_maps(text: str) -> MapsClassification:
    return classify_maps(parse_maps(text))


def _too_long(text: str | None, limit: int, what: str, problems: list[str]) -> bool:
    """A file of more lines than fleet reads (fleet.limits) is a problem, never parsed: real
    slabinfo has 100-300 caches, and maps at most vm.max_map_count (65,530) mappings."""
    if text is None or (lines := text.count("\n")) <= limit:
        return False
    problems.append(f"{what}: {lines} lines, more than the {limit} fleet reads")
    return True


def _first_line(text: str | None) -> str | None:
    if text is None:
        return None
    line = text.strip().split("\n", 1)[0].strip()
    return line or None


def metrics_from_capture(capture: Capture, previous: DeviceMetrics | None = None) -> DeviceMetrics:
    """Device and per-process metrics of one capture; parse failures are listed in ``problems``.

    ``previous``: the device's previous sample. Most processes' maps do not change between two
    samples; a maps dump whose digest that sample already has is not parsed again, its figures are
    copied (parsing and classifying maps is most of a sample's parse time). A process whose maps,
    cmdline and thread names the capture skipped on purpose (``skipped``) takes them from the same
    process (pid and start time) in ``previous``; without one there, it is left out of this sample.
    """
    problems: list[str] = []
    known = {p.maps_digest: p for p in previous.processes if p.maps_digest} if previous else {}
    carried = (
        {(p.pid, p.start_time): p for p in previous.processes if p.maps_digest and p.pid in capture.skipped}
        if previous and capture.skipped
        else {}
    )
    files = capture.files
    uptime = try_parse(parse_uptime, files.get("/proc/uptime"), problems, "")
    loadavg = try_parse(parse_loadavg, files.get("/proc/loadavg"), problems, "")
    meminfo = try_parse(parse_meminfo, files.get("/proc/meminfo"), problems, "")
    # /proc/slabinfo is root-only (0400 since 2.6.x) and absent without CONFIG_SLUB_DEBUG/SLAB.
    slab_text = files.get("/proc/slabinfo")
    if _too_long(slab_text, MAX_SLAB_CACHES, "slabinfo", problems):
        slab_text = None
    slab = try_parse(slab_bytes, slab_text, problems, "")
    kernel_threads = capture.without_program or 0  # not even read (format 4)
    read: list[tuple[ProcessCapture, Stat, Statm | None]] = []
    for pid in sorted(capture.processes):
        pc = capture.processes[pid]
        stat = _stat(pc, problems)
        if stat is None:
            continue
        if stat.kernel_thread:
            kernel_threads += 1
            continue
        read.append((pc, stat, try_parse(parse_statm, pc.files.get("statm"), problems, f"pid {pid} ")))
    page = page_size([(stat, statm) for _, stat, statm in read if statm is not None])
    if page is None and any(statm is not None and statm.size for _, _, statm in read):
        problems.append("statm: page size unknown (no process's stat vsize is a whole number of its pages)")
    processes = []
    for pc, stat, statm in read:
        proc = _process(pc, stat, statm, page, problems, known, carried, pc.pid in capture.skipped)
        if proc is not None:
            processes.append(proc)
    return DeviceMetrics(
        boot_id=_first_line(files.get("/proc/sys/kernel/random/boot_id")),
        kernel=_first_line(files.get("/proc/sys/kernel/osrelease")),
        kernel_version=_first_line(files.get("/proc/version")),
        firmware=firmware_identity(files.get(capture.firmware_file)) if capture.firmware_file else None,
        uptime=uptime.uptime if uptime else None,
        load1=loadavg.load1 if loadavg else None,
        **memory_fields(meminfo),
        slab=slab or {},
        kernel_threads=kernel_threads,
        processes=tuple(processes),
        problems=tuple(problems),
    )


def _stat(pc: ProcessCapture, problems: list[str]) -> Stat | None:
    """The process's stat; None when it has none (it exited between listing /proc and reading it:
    churn, not a problem) or when it does not parse (a problem: no start time, no identity)."""
    stat_text = pc.files.get("stat")
    if stat_text is None:
        return None
    stat: Stat | None = try_parse(parse_stat, stat_text, problems, f"pid {pc.pid} ")
    if stat is None:
        problems.append(f"pid {pc.pid}: dropped, no start time without a readable stat")
    return stat


def page_size(pairs: list[tuple[Stat, Statm]]) -> int | None:
    """The device's page size, which statm's counts are in: stat's vsize is the same counter
    (total_vm) in bytes, so each process read gives vsize / size. The most common power of two
    wins (a process that mapped memory between the two reads gives an odd ratio); None without
    one (no statm, or only processes without memory, like a kernel thread's zeros)."""
    ratios = Counter(
        vsize // statm.size
        for stat, statm in pairs
        if statm.size and (vsize := stat.vsize) and vsize % statm.size == 0
    )
    for ratio, _ in ratios.most_common():
        if 1024 <= ratio <= 1 << 20 and ratio & (ratio - 1) == 0:
            return ratio
    return None


def _process(
    pc: ProcessCapture,
    stat: Stat,
    statm: Statm | None,
    page: int | None,
    problems: list[str],
    known: dict[str, ProcessMetrics],
    carried: dict[tuple[int, int], ProcessMetrics],
    skipped: bool,
) -> ProcessMetrics | None:
    prefix = f"pid {pc.pid} "
    status: Status | None = try_parse(parse_status, pc.files.get("status"), problems, prefix)
    maps_text = pc.files.get("maps")
    digest = maps_digest(maps_text) if maps_text else None
    same = known.get(digest) if digest is not None else None
    prior = carried.get((pc.pid, stat.starttime)) if skipped else None  # this process, last sample
    if skipped and maps_text is None:
        if prior is None:
            return None  # its pid now names another process: the next full sample has it
        same, digest = prior, prior.maps_digest
    if same is not None:
        from_maps = {name: getattr(same, name) for name in MAPS_FIELDS}
    else:
        too_long = _too_long(maps_text, MAX_MAPPINGS, f"{prefix}maps", problems)
        cls = None if too_long else try_parse(_classified_maps, maps_text, problems, prefix)
        from_maps = maps_fields(cls)
        if cls is None:
            digest = None  # nothing worth copying: the next sample parses it again and says why
    rollup: SmapsRollup | None = try_parse(parse_smaps_rollup, pc.files.get("smaps_rollup"), problems, prefix)

    # Memory counters: from statm (format 5) in pages, else from status (formats 1 to 4).
    rss = vm_size = anon_private = None
    if status is not None:
        rss, vm_size, anon_private = status.vm_rss, status.vm_size, status.rss_anon
    elif statm is not None and page is not None:
        rss, vm_size, anon_private = statm.resident * page, statm.size * page, statm.anon * page

    # Those PF_KTHREAD marks were counted, not recorded (metrics_from_capture); a kernel thread
    # whose stat lacks the flag (kernels before 2.6.27) shows an empty maps and no memory (no Vm*
    # lines in status, zeros in statm).
    no_memory = not vm_size and not (statm is not None and statm.size)
    kernel_thread = maps_text is not None and not maps_text.strip() and no_memory

    threads = status.threads if status and status.threads is not None else None
    if threads is None and stat.num_threads > 0:
        threads = stat.num_threads
    if threads is None and pc.tasks:
        threads = len(pc.tasks)

    # Private anonymous memory, best available proxy: resident anonymous pages (heap, arenas,
    # stacks, private mmaps; also anon shared with forked children, rare in daemons): statm's
    # resident - shared on any kernel, status's RssAnon from Linux 4.5. smaps_rollup (4.15+) has no
    # private-anon line, its "Anonymous" is the same measure, so it is the fallback when an older
    # capture's status lacks RssAnon. Else unknown (None), not zero.
    if anon_private is None and rollup is not None:
        anon_private = rollup.anonymous

    if vm_size is None and not kernel_thread:
        vm_size = stat.vsize  # bytes, field 23

    cmdline_text = pc.files.get("cmdline")
    cmdline = cmdline_text.replace("\0", " ").strip() if cmdline_text else None
    if prior is not None and cmdline_text is None:
        cmdline = prior.cmdline
    names = Counter(pc.tasks.values())
    if len(names) > MAX_THREAD_NAMES:  # a leak is many threads of one name, not many names
        problems.append(f"{prefix}threads: {len(names)} names, the {MAX_THREAD_NAMES} most common kept")
        names = Counter(dict(names.most_common(MAX_THREAD_NAMES)))
    thread_names = dict(names)
    if prior is not None and not pc.tasks:
        thread_names = dict(prior.thread_names)

    return ProcessMetrics(
        pid=pc.pid,
        start_time=stat.starttime,
        name=stat.comm,
        cmdline=cmdline or None,
        rss=rss,
        pss=rollup.pss if rollup else None,
        vm_size=vm_size,
        anon_private=anon_private,
        threads=threads,
        thread_names=thread_names,
        fds=pc.fd_count,
        kernel_thread=kernel_thread,
        maps_digest=digest,
        **from_maps,
    )


def steady_maps(before: DeviceMetrics, after: DeviceMetrics) -> frozenset[int]:
    """Pids whose maps, cmdline and thread names a next capture may skip: the same process (pid
    and start time) in both samples, with maps figures, and the same VmSize and thread count. A
    process that grew since the sample before (a leak in progress, a new thread, a new mapping)
    keeps having all of it read."""
    was = {(p.pid, p.start_time): (p.vm_size, p.threads) for p in before.processes if p.maps_digest}
    return frozenset(
        p.pid
        for p in after.processes
        if p.maps_digest
        and p.vm_size is not None
        and was.get((p.pid, p.start_time)) == (p.vm_size, p.threads)
    )
