"""The prepared GPU check (bench/gpu_check.sh): its CPU dry run, its time budgets, its wheels, its publishing."""

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import gpu_check
from tests.conftest import REPO


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    """`bash bench/gpu_check.sh --cpu`: every part on the tiny model, results in $OUT."""
    out = tmp_path_factory.mktemp("gpu_check")
    before = {p: p.stat().st_mtime for p in (REPO / "bench").iterdir() if p.is_file()}
    done = subprocess.run(
        ["bash", "bench/gpu_check.sh", "--cpu"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=os.environ | {"OUT": str(out), "PYTHON": sys.executable},
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    after = {p: p.stat().st_mtime for p in (REPO / "bench").iterdir() if p.is_file()}
    assert after == before  # the bench's own results are left as they were: everything went to $OUT
    return out


@pytest.mark.slow
def test_the_cpu_dry_run_runs_every_part_and_writes_its_report(dry_run):
    report = json.loads((dry_run / "gpu_check.json").read_text())
    assert report["cpu_dry_run"] and report["environment"]["versions"]["trl"] == importlib.metadata.version("trl")
    assert [p["status"] for p in report["parts"]] == ["ok"] * (len(gpu_check.BENCH_PARTS) + 1), report["parts"]
    first = report["bench"][gpu_check.BENCH_PARTS[0][0]]
    rows = first["rows"]
    assert first["model"] == "tiny"
    assert [r["stage"] for r in rows] == ["sft", "reward", "ppo"] and all(r["train_s"] > 0 for r in rows)
    assert rows[2]["generation_s"] > 0  # PPO's update split into generation, scoring and optimisation
    qlora = [e for e in report["experiments"] if "load_in_4bit" in e["try"]]
    assert qlora and all(e["after"]["train_s"] > 0 for e in qlora)
    table = (dry_run / "gpu_check.md").read_text()
    assert "| tiny | ppo | LoRA |" in table and "QLoRA (nf4, double quant)" in table


def test_a_part_over_its_budget_is_reported_and_the_next_still_runs(tmp_path):
    slow = gpu_check.run_part("slow", 1, [sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "a.log")
    fast = gpu_check.run_part("fast", 30, [sys.executable, "-c", "print('done')"], tmp_path / "b.log")
    failing = gpu_check.run_part("failing", 30, [sys.executable, "-c", "raise SystemExit(3)"], tmp_path / "c.log")
    assert slow["status"] == "timed out after 1 s" and slow["seconds"] < 10
    assert fast["status"] == "ok" and (tmp_path / "b.log").read_text().strip() == "done"
    assert failing["status"] == "failed (exit 3)"


def test_the_budgets_fit_one_device_command():
    total = sum(part[1] for part in gpu_check.BENCH_PARTS) + gpu_check.TESTS_PART[1]
    assert total <= 9 * 60  # one command may run 10 minutes; environment and start-up take the rest


@pytest.mark.slow
def test_publishing_puts_the_measured_rows_into_the_readmes(dry_run, tmp_path):
    readmes = tuple(
        Path(shutil.copy(REPO / name, tmp_path / name.replace("/", "_")))
        for name in ("docs/launching.md", "recipes/README.md")
    )
    with pytest.raises(SystemExit, match="a CPU dry run measures no GPU"):
        gpu_check.publish(dry_run, readmes)
    report = json.loads((dry_run / "gpu_check.json").read_text())
    report["cpu_dry_run"], report["environment"]["gpu"] = False, "Test GPU"
    (tmp_path / "gpu_check.json").write_text(json.dumps(report))
    gpu_check.publish(tmp_path, readmes)
    for readme in readmes:
        text = readme.read_text()
        assert "Measured by `bench/gpu_check.sh` on Test GPU" in text and "| tiny | sft | LoRA |" in text
        assert text.count(gpu_check.MARKERS[0]) == 1 and "not measured yet" not in text


def test_the_wheels_for_the_gpu_machine_land_in_an_ignored_folder_under_64_mib(tmp_path):
    folder = REPO / ".wheels-test"
    try:
        done = subprocess.run(
            ["bash", "bench/fetch_wheels.sh", str(folder)],
            cwd=REPO,
            capture_output=True,
            text=True,
            env=os.environ | {"PYTHON": sys.executable},
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        wheels = sorted(p.name.split("-")[0] for p in folder.glob("*.whl"))
        assert wheels == ["bitsandbytes", "datasets", "dill", "multiprocess", "trl"]
        assert sum(p.stat().st_size for p in folder.glob("*.whl")) < 64 * 2**20
        ignored = subprocess.run(["git", "check-ignore", "-q", str(next(folder.glob("*.whl")))], cwd=REPO)
        assert ignored.returncode == 0  # never committed; the device tool carries it on request
    finally:
        shutil.rmtree(folder, ignore_errors=True)
