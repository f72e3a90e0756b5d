"""`llm4teach compare` over a real MLflow sqlite store."""

import re

import pytest
from mlflow.tracking import MlflowClient

from llm4teach.cli import main
from llm4teach.compare import DEFAULT_METRIC, compare


@pytest.fixture
def store(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("SimpleDoorKey", artifact_location=str(tmp_path / "a"))
    # soft teacher reaches 0.5 at 2000 frames; PPO at 6000 (seed 0) and never (seed 1)
    curves = {
        ("soft", 0): [0.1, 0.6, 0.95, 1.0], ("soft", 1): [0.2, 0.5, 0.9, 0.9],
        ("ppo", 0): [0.0, 0.0, 0.5, 0.6], ("ppo", 1): [0.0, 0.1, 0.2, 0.3],
    }
    for (method, seed), values in curves.items():
        run = client.create_run(experiment, tags={"method": method, "seed": str(seed)})
        for i, value in enumerate(values):
            client.log_metric(run.info.run_id, DEFAULT_METRIC, value, step=i * 2000,
                              timestamp=1_000_000 + i * 1000)
        client.set_terminated(run.info.run_id, end_time=1_000_000 + 8000)
    return uri


def test_table_reports_frames_to_threshold_per_method(store):
    result = compare(tracking_uri=store, experiments=["SimpleDoorKey"])
    rows = {row["group"]: row for row in result.rows}
    assert rows["soft"]["runs"] == 2
    assert rows["soft"]["frames to 50%"] == "2,000 ± 0"
    assert rows["soft"]["frames to 90%"] == "4,000 ± 0"
    assert rows["ppo"]["frames to 50%"] == "4,000 (1/2 never)"
    assert rows["ppo"]["frames to 90%"] == "never"
    assert rows["soft"]["final success"] == "0.95 ± 0.05"


def test_command_writes_markdown_and_plot(store, tmp_path, capsys):
    out = tmp_path / "report"
    main(["compare", "--experiment", "SimpleDoorKey", "--tracking-uri", store, "--out", str(out),
          "--filter", "tags.method = 'soft'"])
    assert "| soft | 2 |" in capsys.readouterr().out
    assert (out / "curves.png").stat().st_size > 10_000
    assert "curves.png" in (out / "compare.md").read_text()


def test_command_reads_the_store_of_mlflow_tracking_uri(store, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    main(["compare", "--experiment", "SimpleDoorKey", "--out", str(tmp_path / "report")])
    assert "| soft | 2 |" in capsys.readouterr().out


def test_plot_marks_reference_levels(store, tmp_path):
    plain = compare(tracking_uri=store, experiments=["SimpleDoorKey"], out_dir=tmp_path / "a")
    marked = compare(tracking_uri=store, experiments=["SimpleDoorKey"], out_dir=tmp_path / "b",
                     references={"teacher (soft)": 0.7})
    assert marked.plot_path.read_bytes() != plain.plot_path.read_bytes()


def test_unknown_experiment_lists_the_known_ones(store):
    with pytest.raises(SystemExit, match="experiments there: .*SimpleDoorKey"):
        main(["compare", "--experiment", "Nope", "--tracking-uri", store])


def test_a_branch_counts_only_its_own_frames_per_second(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("E", artifact_location=str(tmp_path / "a"))
    run = client.create_run(experiment, start_time=1_000_000,
                            tags={"method": "handover", "branched_at_frames": "8000"})
    for i, value in enumerate([0.2, 0.4]):
        client.log_metric(run.info.run_id, DEFAULT_METRIC, value, step=9000 + i * 1000)
    client.set_terminated(run.info.run_id, end_time=1_000_000 + 4000)
    (row,) = compare(tracking_uri=uri, experiments=["E"]).rows
    assert row["wall time (s)"] == "4" and row["frames/s"] == "500"  # 2,000 frames in 4 s


def test_two_tasks_are_two_groups_by_default(tmp_path, capsys):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    for task, value in (("SimpleDoorKey", 1.0), ("LavaDoorKey", 0.2)):
        experiment = client.create_experiment(task, artifact_location=str(tmp_path / task))
        run = client.create_run(experiment, tags={"task": task, "method": "soft"})
        client.log_metric(run.info.run_id, DEFAULT_METRIC, value, step=2000)
    both = ["compare", "--tracking-uri", uri, "--experiment", "SimpleDoorKey",
            "--experiment", "LavaDoorKey", "--out", str(tmp_path / "report")]
    main(both)
    out = capsys.readouterr().out
    assert "| LavaDoorKey soft | 1 |" in out and "| SimpleDoorKey soft | 1 |" in out
    main([*both, "--group-by", "tags.method"])  # asked for: the tasks averaged together
    assert "| soft | 2 |" in capsys.readouterr().out


def test_every_column_is_named_in_one_line_of_help(store, tmp_path, capsys):
    main(["compare", "--experiment", "SimpleDoorKey", "--tracking-uri", store,
          "--out", str(tmp_path / "report")])
    header = capsys.readouterr().out.splitlines()[0]
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    help_text = capsys.readouterr().out
    for column in (c.strip() for c in header.strip("|").split("|")):
        named = re.sub(r"\d+%", "N%", column)
        assert re.search(rf"^  {re.escape(named)}  +\S", help_text, re.M), column
