"""Coverage-guided fuzzing of the capture splitter, the extractor and the method-log splitter with
atheris (libFuzzer), beside the hypothesis tests. Optional: ``pip install atheris`` (a binary wheel
for CPython 3.11 on x86-64 Linux); run

    python tests/reliability/atheris_fuzz.py -atheris_runs=200000

Allowed outcomes: a Capture or CaptureFormatError from split_capture, metrics (never an
exception) from metrics_from_capture and metrics_from_block. Anything else is a crash libFuzzer
reports with the input that caused it. Every input also gets a time budget (a quadratic corner
is a crash too: ``-timeout=10``).
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from fleet.capture.methodlog import split_method_log
    from fleet.capture.split import CaptureFormatError, split_capture
    from fleet.metrics.from_capture import metrics_from_capture
    from fleet.metrics.from_methodlog import metrics_from_block

TOKEN = "@@fleet-0123456789abcdef"
SEED = (
    f"{TOKEN} v 2\n{TOKEN} d 5 3\n{TOKEN} z\n5/cmdline:/bin/cam\0"
    f"{TOKEN} g\nuptime:1.0 2.0\nmeminfo:MemTotal: 100 kB\n"
    "5/stat:5 (a) S 1 5 5 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9 4096 10\n"
    f"5/status:VmRSS:\t4 kB\n5/maps:00400000-00401000 r-xp 00000000 00:00 0 /bin/cam\n5/task/5/comm:cam\n"
    f"{TOKEN} end\n"
).encode()
SEED_3 = (
    f"{TOKEN} v 3\n{TOKEN} d 5 3\n{TOKEN} a\nuptime:1.0 2.0\n\0meminfo:MemTotal: 100 kB\n\0"
    "5/stat:5 (a) S 1 5 5 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9 4096 10\n\0"
    "5/status:VmRSS:\t4 kB\n\0" + "5/cmdline:/bin/cam\0" + "5/task/5/comm:cam\n\0"
    f"{TOKEN} end\n"
).encode()


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    if fdp.ConsumeBool():
        raw = fdp.ConsumeBytes(fdp.remaining_bytes())
        if raw[:1] == b"+":
            raw = SEED + raw  # a valid capture with fuzzed bytes after it
        elif raw[:1] == b"*":
            raw = SEED_3 + raw
        elif raw[:1] == b"-":
            raw = f"{TOKEN} v 2\n{TOKEN} g\n".encode() + raw
        try:
            cap = split_capture(raw, TOKEN)
        except CaptureFormatError:
            return
        metrics_from_capture(cap)
    else:
        blocks, _ = split_method_log(fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes()))
        for block in blocks:
            metrics_from_block(block)


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
