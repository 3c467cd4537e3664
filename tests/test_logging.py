"""The logging backends a recipe names in `report_to` record a stage's training loss where their own tools read it.

A three-step SFT run on the built-in tiny model per backend, offline, then the loss read back from the backend's
local files and compared with the trainer's log. TensorBoard, the recipes' default, is checked in test_quickstart.py.
Every backend here is a dev dependency: a missing one fails its test.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rlhf_recipes import sft
from rlhf_recipes.quickstart import task
from tests.conftest import QUICKSTART, run_stage, write_jsonl

TRACKIO_DIR = os.environ["TRACKIO_DIR"]  # an empty folder of the test session's (conftest.py)
PROJECT, RUN = "rlhf-recipes", "sft"


@pytest.fixture
def no_network(monkeypatch) -> list:
    """Look-ups and connections beyond this machine are refused and listed (the backends must log offline)."""
    attempts, local = [], ("127.0.0.1", "::1", "localhost", None)
    connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def local_connect(sock, address):
        if sock.family != socket.AF_UNIX and address[0] not in local:
            attempts.append(address)
            raise OSError(f"no network in this test: {address}")
        return connect(sock, address)

    def local_getaddrinfo(host, *args, **kwargs):
        if host not in local:
            attempts.append(host)
            raise socket.gaierror(f"no network in this test: {host}")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", local_connect)
    monkeypatch.setattr(socket, "getaddrinfo", local_getaddrinfo)
    return attempts


def run_logged_sft(tmp_path: Path, report_to: str) -> dict[int, float]:
    """Three SFT steps with `report_to`, a loss logged at each; the trainer's own log: {step: loss}."""
    data = write_jsonl(tmp_path / "sft.jsonl", task.sft_rows(task.split_prompts()[0], 48, seed=3))
    trainer = run_stage(
        sft,
        QUICKSTART / "sft.yaml",
        "--output_dir",
        str(tmp_path / "sft"),
        "--dataset_name",
        str(data),
        "--max_steps",
        "3",
        "--logging_steps",
        "1",
        "--report_to",
        report_to,
        "--project",
        PROJECT,
        "--run_name",
        RUN,
    )
    logged = {entry["step"]: entry["loss"] for entry in trainer.state.log_history if "loss" in entry}
    assert list(logged) == [1, 2, 3]
    return logged


def trackio_metric(name: str) -> dict[int, float]:
    """One metric of the run as `trackio get metric` reads it from TRACKIO_DIR in a new process: {its step: value}."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "trackio.cli",
            "get",
            "metric",
            "--project",
            PROJECT,
            "--run",
            RUN,
            "--metric",
            name,
            "--json",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ | {"TRACKIO_DIR": TRACKIO_DIR},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return {point["step"]: point["value"] for point in json.loads(done.stdout)["values"]}


def test_trackio_records_the_loss_at_each_logged_step(tmp_path, monkeypatch, no_network):
    for variable in ("TRACKIO_SPACE_ID", "TRACKIO_SERVER_URL"):  # either would send the run off this machine
        monkeypatch.delenv(variable, raising=False)
    logged = run_logged_sft(tmp_path, "trackio")
    assert (Path(TRACKIO_DIR) / f"{PROJECT}.db").exists()  # trackio's local SQLite database
    # trackio counts its own steps; the trainer's step is logged beside each loss as `train/global_step`
    global_steps, losses = trackio_metric("train/global_step"), trackio_metric("train/loss")
    assert {global_steps[step]: loss for step, loss in losses.items()} == logged
    assert no_network == []


def wandb_history(run_file: Path) -> list[dict]:
    """The history rows of an offline wandb run, as `wandb leet inspect` reads its transaction log `run-<id>.wandb`."""
    done = subprocess.run(
        [sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(run_file)],
        check=False,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert records and records[-1]["type"] == "exit", f"{run_file} holds no finished run"
    return [record["history"]["item"] for record in records if record["type"] == "history"]


def test_wandb_offline_records_the_loss_at_each_logged_step(tmp_path, monkeypatch, no_network):
    import wandb

    for variable, value in {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_PROJECT": PROJECT}.items():
        monkeypatch.setenv(variable, value)
    try:
        logged = run_logged_sft(tmp_path, "wandb")
    finally:
        wandb.finish()  # the trainer leaves the run open until the process exits
        wandb.teardown()  # and finish() returns before wandb's service has written the run's file; this waits for it
    (run_file,) = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    recorded = {row["train/global_step"]: row["train/loss"] for row in wandb_history(run_file) if "train/loss" in row}
    assert recorded == logged
    assert no_network == []


def test_the_pipeline_ends_each_stages_wandb_run_so_the_next_stage_starts_its_own(tmp_path, monkeypatch, no_network):
    import wandb

    from rlhf_recipes.pipeline import end_tracker_run

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    first = wandb.init(project=PROJECT, name="sft")
    try:
        end_tracker_run()  # what the pipeline does after each stage
        assert wandb.run is None
        second = wandb.init(project=PROJECT, name="reward")
        assert second.id != first.id
    finally:
        wandb.finish()
        wandb.teardown()
