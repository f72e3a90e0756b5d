"""MLflow defaults: where runs go, and the learning-curve figure of a run.

MLflow 3 refuses the old ``./mlruns`` file store, so runs go to a sqlite database under
``mlruns/`` with their artifacts beside it (both relative to the working directory).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from filelock import FileLock

from llm4teach.metrics import EVAL_GREEDY, EVAL_SAMPLED, EVAL_TEACHER

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
DEFAULT_ARTIFACT_ROOT = "mlruns/artifacts"
STORE_CONNECT_S = 5.0  # a tracking server that takes longer to accept a connection is down
# Tags of a run started from another run's checkpoint: the parent's run id, and the frame
# count it started at (its own frames/s counts only the frames it trained).
BRANCHED_FROM, BRANCHED_AT = "branched_from", "branched_at_frames"
# The stores MLflow opens: a local file store or sqlite, a tracking server, a database
# (``postgresql+psycopg2://`` names its driver after the ``+``), Databricks.
SCHEMES = ("", "file", "sqlite", "http", "https", "postgresql", "mysql", "mssql",
           "databricks", "databricks-uc", "uc")


def resolve_tracking_uri(tracking_uri: str | None) -> str:
    """The store a run logs to: the one given, else ``$MLFLOW_TRACKING_URI`` (MLflow's own
    variable, so a user's usual setting applies), else ``DEFAULT_TRACKING_URI``; a URI
    MLflow cannot open is one ``ValueError`` naming where it came from."""
    uri = tracking_uri or os.environ.get(TRACKING_URI_ENV) or DEFAULT_TRACKING_URI
    scheme = urlsplit(uri).scheme.split("+")[0]
    if scheme not in SCHEMES:
        origin = "the tracking URI" if tracking_uri else f"${TRACKING_URI_ENV}"
        raise ValueError(f"{origin} {uri!r} has a scheme MLflow cannot open ({scheme!r}): use "
                         f"sqlite:///PATH (the default is {DEFAULT_TRACKING_URI}), the "
                         "http(s):// address of an MLflow server, or a database URI")
    return uri


def check_store(tracking_uri: str) -> None:
    """Open the store (a new sqlite one gets its tables) before a command makes anything:
    a store that cannot be used (a damaged or read-only database, a server that is down)
    is one ``ValueError`` naming it, in seconds, not a traceback or minutes of retries."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient
    from sqlalchemy.exc import SQLAlchemyError

    fix = ("fix the tracking URI (--tracking.tracking_uri, --tracking-uri or "
           f"${TRACKING_URI_ENV})")
    parts = urlsplit(tracking_uri)
    if parts.scheme in ("http", "https"):
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), timeout=STORE_CONNECT_S).close()
        except OSError as err:
            raise ValueError(f"the MLflow server {tracking_uri} is not reachable "
                             f"({err.strerror or err or type(err).__name__}): start it "
                             f"(mlflow server), or {fix}") from None
    try:
        with store_lock(tracking_uri):
            MlflowClient(tracking_uri).search_experiments(max_results=1)
    except (MlflowException, SQLAlchemyError, OSError) as err:
        reason = " ".join(str(getattr(err, "orig", None) or err).split())[:160]
        raise ValueError(f"the MLflow store {tracking_uri} cannot be used ({reason}): {fix}, "
                         "or move a damaged database away to start a new one") from None


def default_run_name(task: str, method: str | None, seed: int | bool | None) -> str:
    """``<task>-<method>-seed<k>`` (parts not known are left out): a name that says which run
    it is, where MLflow would pick a random one.

    Example:
        >>> default_run_name("SimpleDoorKey", "soft", 2)
        'SimpleDoorKey-soft-seed2'
    """
    parts = [task, method, f"seed{seed}" if type(seed) is int else None]  # not False: unseeded
    return "-".join(p for p in parts if p)


@contextmanager
def store_lock(tracking_uri: str) -> Iterator[None]:
    """Hold while opening a store. A local sqlite one gets its folder (sqlite will not
    create it) and a file lock: MLflow creates and migrates its tables, and experiments,
    on first use, and runs started together on one new store would all try at once (all
    but one then fail). Other stores: nothing to do."""
    if not tracking_uri.startswith("sqlite:///"):
        yield
        return
    database = Path(tracking_uri[len("sqlite:///"):])
    database.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{database}.lock"):
        yield


def artifact_location(tracking_uri: str, artifact_root: str | None) -> str | None:
    """Absolute artifact URI for new experiments of a local store (None: MLflow's default)."""
    if artifact_root is None:
        return None
    if "://" in artifact_root:
        return artifact_root
    return Path(artifact_root).resolve().as_uri()


def learning_curve(tracking_uri: str, run_id: str, path: Path,
                   metrics: tuple[str, ...] = (EVAL_GREEDY,
                                               EVAL_SAMPLED,
                                               EVAL_TEACHER)) -> Path:
    """Plot ``metrics`` of one run against environment frames into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in metrics:
        history = sorted(client.get_metric_history(run_id, name), key=lambda m: m.step)
        if len(history) == 1:
            ax.axhline(history[0].value, linestyle="--", color="grey", label=name)
        elif history:
            ax.plot([m.step for m in history], [m.value for m in history], label=name)
    ax.set_xlabel("environment frames")
    ax.set_ylabel("success rate (held-out seeds)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
