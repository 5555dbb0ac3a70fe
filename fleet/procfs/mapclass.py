"""Classify the mappings of one maps dump the way the method reads them by eye.

Classes (fixed by docs/interface.md): executable, library, heap, main_stack, thread_stack, guard,
anon, file, shm, device, special.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from fleet.procfs.maps import Maps, Vma

CLASSES = (
    "executable",
    "library",
    "heap",
    "main_stack",
    "thread_stack",
    "guard",
    "anon",
    "file",
    "shm",
    "device",
    "special",
)

# A thread's guard is one page (glibc, musl, uClibc, bionic default); allow up to 64 KiB for 64 KiB
# page kernels (arm64/ppc64 configs) and pthread_attr_setguardsize() of a few pages.
GUARD_MAX = 64 * 1024
# PTHREAD_STACK_MIN is 16 KiB on glibc/x86; nothing smaller is a usable pthread stack.
STACK_MIN = 16 * 1024

_SYSV = re.compile(r"/SYSV[0-9a-fA-F]{8}(?: \(deleted\))?")
_STACK_TID = re.compile(r"\[stack:([0-9]{1,10})\]")  # Linux 3.4 (b7643757) .. 4.4; removed in 4.5 (65376df5)
_ANDROID_STACK = re.compile(r"\[anon:stack_and_tls:([0-9]{1,10})\]")  # bionic names its stacks (Android 12+)
_SHARED_OBJECT = re.compile(r"\.so(?:\.[0-9][0-9A-Za-z.]*)?$")
_DELETED = " (deleted)"
# Executable-mapped files that are never the main program: Android ART images and compiled dex,
# kernel modules. Android maps boot.oat at 0x70000000, below app_process64 (0x5f........).
_NOT_PROGRAM = (".oat", ".odex", ".art", ".vdex", ".dex", ".jar", ".apk", ".ko")


@dataclass(frozen=True)
class ClassTotal:
    """Mappings of one class: how many, and their summed virtual size in bytes."""

    count: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class MapsClassification:
    """The classified dump: per-mapping classes (same order as ``Maps.vmas``) and per-class totals."""

    classes: tuple[str, ...]
    totals: Mapping[str, ClassTotal]  # only classes that occur
    stack_size: int | None  # most common thread-stack size, inferred from the mappings themselves
    exe: str | None  # main executable path (" (deleted)" removed)
    address_bits: int | None  # 32 or 64; None for an empty dump
    stack_tids: tuple[int, ...] = ()  # tids named by [stack:TID] annotations (3.4-4.4 kernels)
    guarded_stacks: int = 0  # thread stacks sitting directly above a guard mapping
    sysv_count: int = 0  # /SYSV........ attachments (the shm class also holds POSIX shm, memfd, ...)
    sysv_bytes: int = 0
    elided: int = 0  # "..." markers: the dump is an excerpt, totals are a lower bound
    mappings: int = 0

    def total(self, name: str) -> ClassTotal:
        """Totals of one class, zero when absent."""
        return self.totals.get(name, ClassTotal())


def _is_anon(vma: Vma) -> bool:
    """No file behind it: no path, or an Android ``[anon:name]`` (prctl PR_SET_VMA_ANON_NAME)."""
    return vma.path is None or vma.path.startswith("[anon:")


def _is_guard(vma: Vma) -> bool:
    # PROT_NONE anonymous memory: thread-stack guards, malloc arena reserves, library gaps on old
    # loaders (uClibc maps them anonymous). File-backed "---p" segments stay with their file.
    return vma.perms[:3] == "---" and _is_anon(vma)


def _is_shmem_name(path: str) -> bool:
    """Paths the kernel shows for shmem (tmpfs in RAM) objects other than SYSV segments."""
    return (
        path.startswith(("/dev/shm/", "/dev/ashmem", "/memfd:", "/anon_hugepage"))
        or path == "/dev/zero (deleted)"  # MAP_SHARED of /dev/zero becomes shmem (shmem_zero_setup)
    )


def find_exe(vmas: tuple[Vma, ...]) -> str | None:
    """The main executable: the lowest-mapped file with an executable segment that is not a ``.so``.

    Non-PIE programs sit at 0x8048000 / 0x10000 / 0x400000 and PIE ones (0x55.., 0x56.., 0x5f..
    on Android) below the mmap area, so "lowest" wins over interpreters, .oat files and plugins.
    Falls back to the lowest non-library file when no executable segment is in the dump.
    """
    fallback: Vma | None = None
    best: Vma | None = None
    program: dict[str, bool] = {}  # per path: a library maps 4-5 lines
    for vma in vmas:
        path = vma.path
        if path is None or not path.startswith("/") or path.startswith("/dev/"):
            continue
        maybe = program.get(path)
        if maybe is None:
            maybe = program[path] = _may_be_program(path)
        if not maybe:
            continue
        if "x" in vma.perms and (best is None or vma.start < best.start):
            best = vma
        if fallback is None or vma.start < fallback.start:
            fallback = vma
    chosen = best or fallback
    return chosen.path.removesuffix(_DELETED) if chosen is not None and chosen.path else None


def _may_be_program(path: str) -> bool:
    name = path.removesuffix(_DELETED)
    return not (
        _SYSV.fullmatch(path)
        or _is_shmem_name(path)
        or _SHARED_OBJECT.search(name)
        or name.endswith(_NOT_PROGRAM)
    )


def _base_class(vma: Vma, exe: str | None, code_files: set[str]) -> str:
    """Class from the line alone (thread stacks by shape are found later)."""
    path = vma.path
    if path is None:
        return "guard" if _is_guard(vma) else "anon"
    if path.startswith("["):
        if path == "[heap]":
            return "heap"
        if path == "[stack]":
            return "main_stack"
        if _STACK_TID.fullmatch(path) or _ANDROID_STACK.fullmatch(path):
            return "thread_stack"
        if path.startswith("[anon:"):
            if _is_guard(vma):
                return "guard"  # bionic "[anon:thread stack guard]" and friends
            if path == "[anon:libc_malloc]" or path.startswith("[anon:scudo:"):
                return "heap"  # bionic names its malloc arenas; there is no [heap] on Android
            return "anon"
        return "special"  # [vdso] [vvar] [vvar_vclock] [vsyscall] [sigpage] [vectors] [uprobes] ...
    if _SYSV.fullmatch(path):
        return "shm"
    if _is_shmem_name(path):
        # Shared: RAM that any process can attach, which leaks like SYSV (POSIX shm, ashmem, memfd).
        # Private: copy-on-write pages are plain anonymous memory (ART maps its heaps this way,
        # and MAP_PRIVATE of /dev/zero *is* the historical spelling of MAP_ANONYMOUS).
        return "shm" if vma.shared else "anon"
    if path == "/dev/zero":
        return "anon"
    if path.startswith("/dev/__properties__/"):
        return "file"  # Android system-property areas: small tmpfs files that happen to live in /dev
    if path.startswith("/dev/"):
        return "device"  # /dev/mmz_userdev, /dev/fb0, /dev/kgsl-3d0, /dev/mali0: driver memory
    if path.startswith("anon_inode:"):
        # dma-buf fds mapped by camera/GPU pipelines are device memory; other anon inodes
        # (perf rings, io_uring, bpf maps) are kernel objects.
        return "device" if "dmabuf" in path else "special"
    name = path.removesuffix(_DELETED)
    if exe is not None and name == exe:
        return "executable"
    if _SHARED_OBJECT.search(name) or name in code_files:
        return "library"
    if path.startswith("/"):
        return "file"
    return "special"  # anything else the kernel names without a leading "/"


def classify_maps(maps: Maps) -> MapsClassification:
    """Classify every mapping, find thread stacks by annotation and by shape, and total per class."""
    vmas = maps.vmas
    exe = find_exe(vmas)
    code_files = {
        v.path.removesuffix(_DELETED)
        for v in vmas
        if v.path is not None and v.path.startswith("/") and "x" in v.perms and not v.path.startswith("/dev/")
    }
    # The class depends on the path and the permissions only: a library's 4-5 lines share one call.
    # (The loops over every mapping avoid Vma.size, a Python-level property: a busy device's
    # capture holds tens of thousands of mappings.)
    seen: dict[tuple[str | None, str], str] = {}
    classes = []
    stack_tids: list[int] = []
    for v in vmas:
        key = (v.path, v.perms)
        cls = seen.get(key)
        if cls is None:
            cls = seen[key] = _base_class(v, exe, code_files)
        classes.append(cls)
        if cls == "thread_stack" and v.path is not None:  # annotated: the only way _base_class says so
            m = _STACK_TID.fullmatch(v.path) or _ANDROID_STACK.fullmatch(v.path)
            if m:
                stack_tids.append(int(m.group(1)))

    # Shape (all kernels; the only way from 4.5 on): an unnamed private read-write mapping whose
    # start is the end of a small PROT_NONE guard just below it (stacks grow down onto the guard).
    # The kernel prints maps in address order; a pasted dump may not be, so sort (linear if sorted).
    order = sorted(range(len(vmas)), key=[v.start for v in vmas].__getitem__)
    candidates: list[int] = []
    guarded: set[int] = set()
    for prev_i, i in itertools.pairwise(order):
        if classes[prev_i] != "guard":
            continue
        below, vma = vmas[prev_i], vmas[i]
        if below.end != vma.start or below.end - below.start > GUARD_MAX:
            continue
        if classes[i] == "thread_stack":
            guarded.add(i)
        elif (
            classes[i] == "anon"
            and vma.path is None
            and vma.perms[:2] == "rw"
            and not vma.shared
            and vma.size >= STACK_MIN
        ):
            candidates.append(i)

    # Stack size: the most common size among annotated and shape-found stacks. ulimit -s (8 MiB by
    # default, often 1-2 MiB on embedded firmware) or pthread_attr_setstacksize decide it, and glibc
    # may or may not add the guard page to it, so it is never assumed.
    size_of = [v.end - v.start for v in vmas]
    sizes = Counter(size_of[i] for i, c in enumerate(classes) if c == "thread_stack")
    sizes.update(size_of[i] for i in candidates)
    stack_size: int | None = None
    if sizes:
        stack_size = max(sizes.items(), key=lambda kv: (kv[1], kv[0]))[0]
    for i in candidates:
        # A size seen once that is not the common one is more likely an unrelated anonymous region
        # that happens to follow a PROT_NONE page (or a stack merged with its neighbour): stay "anon".
        if size_of[i] == stack_size or sizes[size_of[i]] >= 2:
            classes[i] = "thread_stack"
            guarded.add(i)

    counts: dict[str, list[int]] = {}
    sysv_count = sysv_bytes = 0
    for cls, size, v in zip(classes, size_of, vmas, strict=True):
        slot = counts.get(cls)
        if slot is None:
            slot = counts[cls] = [0, 0]
        slot[0] += 1
        slot[1] += size
        if cls == "shm" and v.path is not None and _SYSV.fullmatch(v.path):
            sysv_count += 1
            sysv_bytes += size
    totals = {c: ClassTotal(counts[c][0], counts[c][1]) for c in CLASSES if c in counts}
    return MapsClassification(
        classes=tuple(classes),
        totals=MappingProxyType(totals),
        stack_size=stack_size,
        exe=exe,
        address_bits=address_bits(maps),
        stack_tids=tuple(stack_tids),
        guarded_stacks=len(guarded),
        sysv_count=sysv_count,
        sysv_bytes=sysv_bytes,
        elided=maps.elided,
        mappings=len(vmas),
    )


def address_bits(maps: Maps) -> int | None:
    """64 when any address needs more than 32 bits (or was printed wider than 8 digits), else 32.

    A 64-bit process always has something above 4 GiB (stack, vdso, vsyscall); a 32-bit one,
    even on a 64-bit kernel, never does (TASK_SIZE of compat tasks is below 4 GiB).
    """
    if not maps.vmas:
        return None
    if maps.max_digits > 8 or max(v.end for v in maps.vmas) > 1 << 32:
        return 64
    return 32
