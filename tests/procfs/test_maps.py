"""maps parsing and classification on real dumps: 32/64-bit, Android, ARMv7, the seed excerpt."""

from __future__ import annotations

import pytest

from fleet.procfs import ParseError, classify_maps, parse_maps
from fleet.procfs.mapclass import MapsClassification

from ._corpus import AOSP, ARM, DATA, GOPI, PROM, T0, corpus, corpus_files

MIB = 1024 * 1024


def classify(text: str) -> MapsClassification:
    return classify_maps(parse_maps(text))


def test_every_corpus_maps_parses() -> None:
    files = corpus_files("maps")
    assert len(files) >= 10
    for rel in files:
        text = corpus(rel)
        maps = parse_maps(text)
        assert len(maps.vmas) == sum(1 for line in text.splitlines() if line.strip())
        assert sum(classify_maps(maps).totals[c].count for c in classify_maps(maps).totals) == len(maps.vmas)


def test_android_arm64_variable_width() -> None:
    maps = parse_maps(corpus(f"{AOSP}/libprocinfo/testdata/maps"))
    assert len(maps.vmas) == 2043
    first = maps.vmas[0]
    assert first.start == 0x12C00000
    assert maps.max_digits == 10
    # SOURCES.md promises dalvik ashmem; this dump names them [anon:dalvik-...] (with spaces) instead.
    paths = {v.path for v in maps.vmas}
    assert "[anon:dalvik-thread local mark stack]" in paths
    assert "/dev/ashmem/AudioFlinger::Client(29312) (deleted)" in paths
    assert sum(1 for v in maps.vmas if v.deleted) >= 2
    c = classify_maps(maps)
    assert c.exe == "/system/bin/app_process64"
    assert c.address_bits == 64
    # 13 bionic stacks, each above "[anon:thread stack guard]": 1 MiB minus bionic's guard/TLS.
    assert c.total("thread_stack").count == 13
    assert c.stack_size == 1032192
    assert c.guarded_stacks == 13
    kgsl = [v for v, k in zip(maps.vmas, c.classes, strict=True) if k == "device"]
    assert len(kgsl) == 221 and sum(1 for v in kgsl if v.path == "/dev/kgsl-3d0") == 219
    assert c.total("shm").count == 2  # shared ashmem; private dalvik ashmem is anonymous memory
    assert c.total("special").count == 2  # [vdso], [vvar]


def test_armv7_remarkable() -> None:
    maps = parse_maps(corpus(f"{ARM}/maps"))
    assert len(maps.vmas) == 646
    fb0 = next(v for v in maps.vmas if v.path == "/dev/fb0")
    assert (fb0.start, fb0.end, fb0.perms, fb0.offset, fb0.dev) == (
        0x72918000,
        0x740D6000,
        "rw-s",
        0xA8100000,
        "00:06",
    )
    c = classify_maps(maps)
    assert c.exe == "/usr/bin/xochitl"
    assert c.address_bits == 32
    assert c.stack_size == 8 * MIB
    assert c.total("thread_stack").count == 12
    assert c.total("device").count == 1
    assert c.total("special").count == 4  # [sigpage] [vvar] [vdso] [vectors]
    assert c.classes[-1] == "special"


def test_i386_proftpd() -> None:
    maps = parse_maps(corpus(f"{GOPI}/3323/maps"))
    assert maps.vmas[0].start == 0x08048000 and maps.vmas[0].dev == "ca:00"
    c = classify_maps(maps)
    assert (c.exe, c.address_bits, c.stack_size, c.mappings) == ("/usr/sbin/proftpd", 32, None, 178)
    assert c.total("main_stack").count == 1 and c.total("thread_stack").count == 0


def test_man_page_single_spaces() -> None:
    maps = parse_maps(corpus(f"{PROM}/26234/maps"))
    assert [v.path for v in maps.vmas] == ["/bin/tcsh", "/bin/tcsh", None, "/lib/ld-2.3.2.so"]
    assert maps.vmas[0].dev == "03:01" and maps.vmas[0].inode == 104219
    c = classify_maps(maps)
    assert c.classes == ("executable", "executable", "anon", "library")
    assert c.address_bits == 32


def test_prometheus_64bit_vsyscall() -> None:
    maps = parse_maps(corpus(f"{PROM}/26232/maps"))
    assert maps.vmas[-1].start == 0xFFFFFFFFFF600000
    assert any(v.perms == "rwxs" for v in maps.vmas)
    c = classify_maps(maps)
    assert c.address_bits == 64 and c.total("special").count == 3 and c.total("heap").count == 1


@pytest.mark.parametrize(("pid", "bits"), [("29099", 64), ("29108", 32), ("27807", 64)])
def test_this_machine_lab(pid: str, bits: int) -> None:
    maps = parse_maps(corpus(f"{T0}/{pid}/maps"))
    c = classify_maps(maps)
    assert c.address_bits == bits
    assert c.exe == ("/opt/lab/leakd32" if bits == 32 else "/opt/lab/leakd64")
    # 5 threads = main + 4 workers; on 6.x only shape finds the 4 worker stacks.
    assert c.total("thread_stack").count == 4
    assert c.stack_size == 8 * MIB
    assert c.sysv_count == 1 and c.sysv_bytes == 64 * 1024
    by_path = {v.path: k for v, k in zip(maps.vmas, c.classes, strict=True)}
    assert by_path[next(p for p in by_path if p and p.startswith("/SYSV"))] == "shm"
    if bits == 64:
        assert by_path["/dev/zero"] == "anon"  # MAP_PRIVATE /dev/zero is anonymous memory
        assert by_path["/dev/zero (deleted)"] == "shm"  # MAP_SHARED: a shmem object
        assert by_path["/memfd:fleet-ring (deleted)"] == "shm"
        assert by_path[f"/opt/lab/run/data file ({pid}).bin"] == "file"
        assert by_path["[vvar_vclock]"] == "special"
        # glibc malloc arenas (rw-p below a 64 MiB ---p reserve) are not stacks
        assert c.total("guard").count == 9


def test_kernel_thread_empty_maps() -> None:
    c = classify(corpus(f"{T0}/2/maps"))
    assert (c.mappings, c.exe, c.address_bits, c.stack_size, dict(c.totals)) == (0, None, None, None, {})


def test_seed_excerpt() -> None:
    """The method's own dump: [stack:TID] of a 3.x kernel, SYSV, /dev/mmz_userdev, '...' elisions."""
    text = (DATA / "seed_maps.txt").read_text(encoding="utf-8")
    maps = parse_maps(text)
    assert maps.elided == 5  # three '...' lines and two lines cut after '0...'
    c = classify_maps(maps)
    assert c.address_bits == 32
    assert c.exe == "/heop/package/AIApp/AiApp"
    assert len(c.stack_tids) == 13
    assert 30451 in c.stack_tids and 28608 in c.stack_tids
    # 13 annotated + 2 unannotated of the same 8 MiB - 4 KiB size above a guard (exited threads).
    assert c.total("thread_stack").count == 15
    assert c.stack_size == 0x7FF000
    assert c.total("guard").count == 18
    assert c.guarded_stacks >= 13
    assert c.sysv_count == 3
    assert c.total("shm").count == 3
    assert c.total("device").count == 2
    assert c.total("heap").count == 1 and c.total("main_stack").count == 1
    assert c.total("special").count == 2  # [sigpage], [vectors]
    kinds = dict(zip((v.path for v in maps.vmas), c.classes, strict=True))
    assert kinds["/dev/mmz_userdev"] == "device"
    assert kinds["/SYSV5553fc99 (deleted)"] == "shm"
    assert kinds["[stack:30575]"] == "thread_stack"
    assert kinds["/lib/ld-uClibc-0.9.33.2.so"] == "library"


def test_stack_shape_needs_adjacent_small_guard() -> None:
    text = (
        "10000000-10001000 ---p 00000000 00:00 0\n"
        "10001000-10101000 rw-p 00000000 00:00 0\n"  # 1 MiB above a one-page guard: stack
        "20000000-20001000 ---p 00000000 00:00 0\n"
        "20002000-20102000 rw-p 00000000 00:00 0\n"  # a gap: not adjacent, anon
        "30000000-31000000 ---p 00000000 00:00 0\n"
        "31000000-31100000 rw-p 00000000 00:00 0\n"  # 16 MiB "guard": an arena reserve, anon
        "40000000-40001000 ---p 00000000 00:00 0\n"
        "40001000-40101000 rw-s 00000000 00:00 0\n"  # shared: not a stack
        "50000000-50001000 ---p 00000000 00:00 0\n"
        "50001000-50101000 rw-p 00000000 00:00 0\n"  # second stack, same size
        "60000000-60001000 ---p 00000000 00:00 0\n"
        "60001000-60031000 rw-p 00000000 00:00 0\n"  # odd size seen once: anon
    )
    c = classify(text)
    assert c.classes[1::2] == ("thread_stack", "anon", "anon", "anon", "thread_stack", "anon")
    assert c.stack_size == 1 * MIB
    assert c.address_bits == 32


def test_stack_tid_annotation_and_android_names() -> None:
    text = (
        "7f0000000000-7f0000001000 ---p 00000000 00:00 0 [anon:thread stack guard]\n"
        "7f0000001000-7f0000100000 rw-p 00000000 00:00 0 [anon:stack_and_tls:4242]\n"
        "7f0000200000-7f0000300000 rw-p 00000000 00:00 0 [stack:99]\n"
        "7f0000400000-7f0000500000 rw-p 00000000 00:00 0 [anon:libc_malloc]\n"
    )
    c = classify(text)
    assert c.classes == ("guard", "thread_stack", "thread_stack", "heap")
    assert c.stack_tids == (4242, 99)
    assert c.address_bits == 64


@pytest.mark.parametrize(
    ("path", "perms", "cls"),
    [
        ("/dev/shm/ring", "rw-s", "shm"),
        ("/dev/ashmem/foo (deleted)", "rw-s", "shm"),
        ("/dev/ashmem/dalvik-main space (deleted)", "rw-p", "anon"),
        ("/dev/mali0", "rw-s", "device"),
        ("/dev/__properties__/u:object_r:x:s0", "r--s", "file"),
        ("anon_inode:dmabuf", "rw-s", "device"),
        ("anon_inode:[perf_event]", "r--s", "special"),
        ("[uprobes]", "r-xp", "special"),
        ("/SYSV00000000 (deleted)", "rw-s", "shm"),
        ("/usr/share/fonts/a.ttf", "r--p", "file"),
        ("/usr/lib/libfoo.so.1.2.3 (deleted)", "r-xp", "library"),
    ],
)
def test_path_classes(path: str, perms: str, cls: str) -> None:
    exe = "00400000-00401000 r-xp 00000000 08:01 1 /usr/bin/app\n"
    text = f"{exe}10000000-10001000 {perms} 00000000 00:05 7 {path}\n"
    assert classify(text).classes == ("executable", cls)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("00400000-00401000 r-xp 00000000 08:01\n", "line 1: not a mapping line"),
        ("00400000-00401000 r-xp 00000000 08:01 1 /a\n0040", "line 2"),  # truncated
        ("00401000-00400000 r-xp 00000000 08:01 1 /a\n", "bad address range"),
        ("00400000-00401000 rwxq 00000000 08:01 1 /a\n", "not a mapping line"),
        ("00400000-00401000 r-xp 0000000g 08:01 1 /a\n", "not a mapping line"),
        ("hello world\n", "not a mapping line"),
        ("00000000000000000-1 r-xp 0 0:0 1\n", "not a mapping line"),  # 17 hex digits
    ],
)
def test_maps_bad(text: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason) as err:
        parse_maps(text)
    assert err.value.kind == "maps"


def test_maps_crlf_and_trailing_blanks() -> None:
    maps = parse_maps("00400000-00401000 r-xp 00000000 08:01 1   /a b  \r\n\r\n")
    assert maps.vmas[0].path == "/a b"
