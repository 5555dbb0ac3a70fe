"""`fleet export` and `fleet sweep --textfile`: OpenMetrics checked with prometheus_client's own
parser (hostile device and process names included), csv/jsonl process series, atomic writes."""

from __future__ import annotations

import csv
import io
import json
import os
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fleet.cli.app import app
from fleet.render.openmetrics import METRIC_NAMES, label_value
from fleet.render.series import COLUMNS
from fleet.store.store import Store
from fleet.text import visible
from tests.report.conftest import MARKUP_NAME, Collected, synthetic_store

parser = pytest.importorskip("prometheus_client.openmetrics.parser", reason="pip install -e '.[test]'")

REQUIRED = (
    "fleet_device_leak_score",
    "fleet_device_up",
    "fleet_device_mem_available_bytes",
    "fleet_device_memory_exhausted_seconds",
    "fleet_device_findings",
    "fleet_process_leak_score",
    "fleet_device_last_sample_timestamp_seconds",
)
# Device-controlled text: quotes, backslashes, newlines, a label-closing brace, an escape sequence,
# other control characters, non-ASCII, and a fake "# EOF" line.
HOSTILE_DEVICES = ('cam "7" \\ back\\slash}', "カメラ-ü-1", 'x"} 1\n# EOF\nfleet_device_up{device="y')
HOSTILE_PROCESSES = ('ev"il\\\n\x1b[2J', "tab\there\r\x00nul", "démon-名前", '"}\n# EOF')
HOSTILE_FIRMWARE = ('2.3.1"} 1\n# EOF', "v\x1b[31m9", "2.3.0")  # device text, as every label value


def _hostile_store(directory: Path) -> Path:
    """The generated fleet, plus devices with hostile names running hostile-named leaking processes."""
    from tests.support.synthetic import device_series, schedule

    synthetic_store(directory, 3, unreachable=1)
    rng = random.Random(25)
    with Store(directory) as st:
        run = st.begin_run("hostile")
        for i, name in enumerate(HOSTILE_DEVICES):
            procs = [(HOSTILE_PROCESSES[(i + k) % len(HOSTILE_PROCESSES)], "thread_leak") for k in range(2)]
            series, _ = device_series(schedule("regular", 12, rng), rng, procs, mem_decline=20000.0)
            dev = st.device_id(name, f"10.9.0.{i + 1}", ["hostile"])
            for t, metrics in series:
                sample = st.add_raw_sample(dev, run, t, b"", token=None, source="generated")
                st.set_metrics(sample, replace(metrics, firmware=HOSTILE_FIRMWARE[i]))
            st.record_attempt(dev, run, "ok", None, 1.0, at=series[-1][0])
        st.end_run(run)
    return directory


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _hostile_store(tmp_path_factory.mktemp("export") / "store")


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def _families(text: str) -> dict[str, Any]:
    return {f.name: f for f in parser.text_string_to_metric_families(text)}


def _samples(families: dict[str, Any], name: str) -> list[Any]:
    return list(families[name].samples) if name in families else []


def test_openmetrics_parses_and_escapes_hostile_names(hostile_store: Path) -> None:
    res = _invoke("export", "--store", str(hostile_store))
    assert res.exit_code == 0, res.output
    text = res.stdout
    assert text.endswith("# EOF\n") and text.splitlines().count("# EOF") == 1
    assert "\x1b" not in text and "\x00" not in text and "\r" not in text
    for line in text.splitlines():  # no name started a line of its own
        assert line.startswith(("# HELP ", "# TYPE ", "# UNIT ", "# EOF", "fleet_")), line
    fams = _families(text)
    assert set(REQUIRED) <= set(fams) and set(fams) == set(METRIC_NAMES)
    assert all(f.type == "gauge" and f.documentation for f in fams.values())

    up = {s.labels["device"]: (s.labels["status"], s.value) for s in _samples(fams, "fleet_device_up")}
    for name in HOSTILE_DEVICES:  # exactly the name back, newline and all: nothing to make visible
        assert up[name] == ("ok", 1.0)
    assert up["gw-00"] == ("unreachable", 0.0)
    scores = {s.labels["device"]: s.value for s in _samples(fams, "fleet_device_leak_score")}
    assert set(scores) == set(up) and all(0 <= v <= 1 for v in scores.values())
    assert scores[HOSTILE_DEVICES[0]] >= 0.5

    procs = {(s.labels["device"], s.labels["process"]) for s in _samples(fams, "fleet_process_leak_score")}
    for i, name in enumerate(HOSTILE_DEVICES):
        for k in range(2):
            shown = visible(HOSTILE_PROCESSES[(i + k) % len(HOSTILE_PROCESSES)], keep="\n")
            assert (name, shown) in procs  # control characters as \xNN, the rest exact
    assert (HOSTILE_DEVICES[0], 'ev"il\\\n\\x1b[2J') in procs

    findings = _samples(fams, "fleet_device_findings")
    kinds = {(s.labels["device"], s.labels["kind"], s.labels["severity"]) for s in findings}
    assert (HOSTILE_DEVICES[1], "thread_leak", "high") in kinds
    assert all(s.value >= 1 and s.value == int(s.value) for s in findings)
    forecasts = {s.labels["device"] for s in _samples(fams, "fleet_device_memory_exhausted_seconds")}
    assert "cam-000" in forecasts and "cam-001" not in forecasts and "gw-00" not in forecasts
    mem = {s.labels["device"]: s.value for s in _samples(fams, "fleet_device_mem_available_bytes")}
    assert "gw-00" not in mem and all(v > 0 for v in mem.values()) and "cam-001" in mem
    last = {s.labels["device"]: s.value for s in _samples(fams, "fleet_device_last_sample_timestamp_seconds")}
    assert "gw-00" not in last and last["cam-000"] > 1.7e9
    info = {s.labels["device"]: (s.labels["firmware"], s.value) for s in _samples(fams, "fleet_device_info")}
    named = zip(HOSTILE_DEVICES, HOSTILE_FIRMWARE, strict=True)
    # only devices that named a firmware; control characters as \xNN, the rest exact
    assert info == {name: (visible(fw, keep="\n"), 1.0) for name, fw in named}


def test_label_value_escapes_exposition_specials() -> None:
    assert label_value('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert label_value("\x1b[31m\x7f") == "\\\\x1b[31m\\\\x7f"  # made visible, then its \ escaped
    assert label_value("ü名") == "ü名"


def test_export_only_selects_and_unknown_only_exits_2(hostile_store: Path) -> None:
    res = _invoke("export", "--store", str(hostile_store), "--only", "hostile")
    assert res.exit_code == 0, res.output
    devices = {s.labels["device"] for s in _samples(_families(res.stdout), "fleet_device_up")}
    assert devices == set(HOSTILE_DEVICES)
    for fmt in ("openmetrics", "csv"):
        res = _invoke("export", "--store", str(hostile_store), "--format", fmt, "--only", "nope")
        assert res.exit_code == 2 and "matches no device" in res.stderr


def test_export_to_file_is_atomic_and_readable(hostile_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "textfiles" / "fleet.prom"
    res = _invoke("export", "--store", str(hostile_store), "-o", str(out))
    assert res.exit_code == 0, res.output
    assert res.stdout == ""
    assert "fleet_device_up" in _families(out.read_text(encoding="utf-8"))
    umask = os.umask(0o022)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # any new file's mode, not mkstemp's 0600
    assert sorted(p.name for p in out.parent.iterdir()) == ["fleet.prom"]  # no temporary file left
    res = _invoke("export", "--store", str(hostile_store), "-o", "-")
    assert res.exit_code == 0 and res.stdout.endswith("# EOF\n")


def _expected_rows(store: Path, devices: set[str] | None = None) -> int:
    with Store(store) as st:
        return sum(
            len(m.processes)
            for row in st.devices()
            if devices is None or row.name in devices
            for _, m in st.series(row.name)
        )


def test_csv_series_has_every_process_sample(hostile_store: Path) -> None:
    res = _invoke("export", "--store", str(hostile_store), "--format", "csv")
    assert res.exit_code == 0, res.output
    assert "\x1b" not in res.stdout
    rows = list(csv.DictReader(io.StringIO(res.stdout, newline="")))
    assert tuple(rows[0]) == COLUMNS
    assert len(rows) == _expected_rows(hostile_store)
    names = {r["name"] for r in rows}
    assert visible(HOSTILE_PROCESSES[0]) in names and "démon-名前" in names
    assert {r["device"] for r in rows} >= set(HOSTILE_DEVICES) - {HOSTILE_DEVICES[2]}
    assert visible(HOSTILE_DEVICES[2]) in {r["device"] for r in rows}
    first = next(r for r in rows if r["device"] == "cam-000")
    assert first["time"].endswith("Z") and int(first["rss"]) > 0 and int(first["pid"]) > 0
    times = [r["time"] for r in rows if r["device"] == "cam-000" and r["name"] == "AiApp"]
    assert times == sorted(times) and len(times) == 12


def test_jsonl_series_keeps_names_exact(hostile_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "series.jsonl"
    res = _invoke(
        "export", "--store", str(hostile_store), "--format", "jsonl", "-o", str(out), "--only", "hostile"
    )
    assert res.exit_code == 0, res.output
    lines = out.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == _expected_rows(hostile_store, set(HOSTILE_DEVICES))
    assert all(tuple(r) == COLUMNS for r in rows)
    assert {r["device"] for r in rows} == set(HOSTILE_DEVICES)
    assert {r["name"] for r in rows} >= set(HOSTILE_PROCESSES[:2])


def test_iter_series_streams_what_series_reads(hostile_store: Path) -> None:
    with Store(hostile_store) as st:
        for row in st.devices():
            whole = st.series(row.name)
            assert list(st.iter_series(row.name, chunk=5)) == whole


def test_sweep_textfile_writes_the_export(hostile_store: Path, tmp_path: Path) -> None:
    prom = tmp_path / "node-exporter" / "fleet.prom"
    args = ["sweep", "--no-collect", "--store", str(hostile_store), "--report-dir", str(tmp_path / "r")]
    res = _invoke(*args, "--textfile", str(prom))
    assert res.exit_code == 0, res.output
    fams = _families(prom.read_text(encoding="utf-8"))
    assert set(REQUIRED) <= set(fams)
    assert {s.labels["device"] for s in fams["fleet_device_up"].samples} >= set(HOSTILE_DEVICES)
    assert sorted(p.name for p in prom.parent.iterdir()) == ["fleet.prom"]
    # a textfile that cannot be written: the report still goes out, the sweep exits 1 and says why
    blocker = tmp_path / "file"
    blocker.write_text("")
    res = _invoke(*args, "--textfile", str(blocker / "fleet.prom"))
    assert res.exit_code == 1
    assert "METRICS NOT WRITTEN" in res.stdout
    assert len(list((tmp_path / "r").glob("fleet-report-*.html"))) == 2


@pytest.mark.lab
def test_export_lab_store_parses(report_lab: Collected) -> None:
    """Real captures of a lab, with the hostile workload and a device named in markup."""
    res = _invoke("export", "--store", str(report_lab.store))
    assert res.exit_code == 0, res.output
    fams = _families(res.stdout)
    assert set(REQUIRED) <= set(fams)
    up = {s.labels["device"]: (s.labels["status"], s.value) for s in fams["fleet_device_up"].samples}
    assert up["lab-01"] == ("ok", 1.0) and up[MARKUP_NAME] == ("ok", 1.0)
    assert up["dead-01"][1] == 0.0 and up["dead-01"][0] != "ok"
    mem = {s.labels["device"] for s in fams["fleet_device_mem_available_bytes"].samples}
    assert {"lab-01", "lab-hostile"} <= mem
    procs = {(s.labels["device"], s.labels["process"]) for s in fams["fleet_process_leak_score"].samples}
    assert any(d == "lab-01" for d, _ in procs) and any(d == "lab-hostile" for d, _ in procs)
    assert all(label_value(p) == label_value(visible(p, keep="\n")) for _, p in procs)
    last = {s.labels["device"] for s in fams["fleet_device_last_sample_timestamp_seconds"].samples}
    assert "lab-01" in last and "dead-01" not in last
    res = _invoke("export", "--store", str(report_lab.store), "--format", "csv", "--only", "lab-hostile")
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout, newline="")))
    assert rows and {r["device"] for r in rows} == {"lab-hostile"} and "\x1b" not in res.stdout
