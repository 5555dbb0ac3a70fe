"""Thread stacks found by shape alone on this machine's kernel (no [stack:TID] since Linux 4.5)."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fleet.procfs import classify_maps, parse_maps

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None or not Path("/proc/self/maps").exists(), reason="needs gcc and /proc"
)

PROGRAM = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *sleeper(void *arg) { (void)arg; for (;;) pause(); return NULL; }

int main(int argc, char **argv) {
    int n = atoi(argv[1]);
    size_t stack = (size_t)atol(argv[2]);  /* 0: the default, i.e. RLIMIT_STACK */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (stack) pthread_attr_setstacksize(&attr, stack);
    for (int i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, &attr, sleeper, NULL)) { perror("pthread_create"); return 1; }
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
}
"""

MIB = 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE")


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("stacks") / "stacks.c"
    src.write_text(PROGRAM)
    exe = src.with_suffix("")
    subprocess.run(["gcc", "-O1", "-pthread", "-o", str(exe), str(src)], check=True)
    return exe


@pytest.fixture
def run(binary: Path) -> Iterator[Callable[..., str]]:
    """Start the program, wait for 'ready', return its maps text; kill only that pid afterwards."""
    started: list[subprocess.Popen[str]] = []

    def start(threads: int, stack: int = 0, rlimit_stack: int | None = None) -> str:
        def limit() -> None:
            if rlimit_stack is not None:
                resource.setrlimit(resource.RLIMIT_STACK, (rlimit_stack, rlimit_stack))

        proc = subprocess.Popen(
            [str(binary), str(threads), str(stack)], stdout=subprocess.PIPE, text=True, preexec_fn=limit
        )
        started.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"  # readiness, not a sleep
        return Path(f"/proc/{proc.pid}/maps").read_text()

    yield start
    for proc in started:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def _near(size: int | None, expected: int) -> bool:
    # glibc puts the guard inside the requested size on some versions and adds it on others.
    return size is not None and abs(size - expected) <= PAGE


def test_five_default_stacks(run: Callable[..., str]) -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    c = classify_maps(parse_maps(run(5)))
    assert c.total("thread_stack").count == 5
    assert c.guarded_stacks == 5
    assert c.stack_size is not None
    if soft not in (resource.RLIM_INFINITY, -1) and soft >= 64 * 1024:
        assert _near(c.stack_size, soft)


def test_1mib_stacks_from_attr(run: Callable[..., str]) -> None:
    c = classify_maps(parse_maps(run(5, stack=1 * MIB)))
    assert c.total("thread_stack").count == 5
    assert _near(c.stack_size, 1 * MIB)


def test_ulimit_s_512k(run: Callable[..., str]) -> None:
    """``ulimit -s 512`` in the child: glibc sizes default thread stacks from RLIMIT_STACK."""
    c = classify_maps(parse_maps(run(7, rlimit_stack=512 * 1024)))
    assert c.total("thread_stack").count == 7
    assert _near(c.stack_size, 512 * 1024)
    assert c.total("thread_stack").bytes == 7 * c.stack_size  # type: ignore[operator]
