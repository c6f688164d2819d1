"""Runs of a SQL-backed MLflow store read straight from its tables, in three queries.

``MlflowClient.search_runs`` builds one Python object per run, tag and metric: with 100k final
runs it takes minutes. A store the leaderboard can reach by SQL (``sqlite:///``,
``postgresql://``, ``mysql://``) is read here instead with the same server-side filter
(``tags.stage = <stage>``, ``status = FINISHED``, active runs of active experiments, optionally
``tags.sweep``) and the same result: one row per run with its tags, its latest metrics as
``m.<key>``, the wanted params as ``p.<key>``, ``run_id`` and ``experiment_id``. The tables read
(``runs``, ``experiments``, ``tags``, ``latest_metrics``, ``params``) are MLflow's own, the ones
its ``SqlAlchemyStore`` maps; ``tests/test_leaderboard.py`` checks that both readers agree.
"""

from __future__ import annotations

from functools import cache

import pandas as pd

SQL_SCHEMES = ("sqlite:", "postgresql", "mysql", "mssql")


def is_sql(tracking_uri: str) -> bool:
    """True for the tracking URIs MLflow opens with its SQLAlchemy store."""
    return tracking_uri.startswith(SQL_SCHEMES)


@cache
def _engine(tracking_uri: str):
    import sqlalchemy as sa

    return sa.create_engine(tracking_uri)


def runs_with_stage(
    tracking_uri: str,
    stage: str,
    sweep: str | None = None,
    params: tuple[str, ...] = (),
    finished: bool = True,
) -> pd.DataFrame:
    """Active runs tagged ``stage`` (and ``sweep``; only FINISHED ones if ``finished``): one
    row per run (see the module docstring); an empty frame when there is none or the store has
    no MLflow tables yet."""
    import sqlalchemy as sa

    bind = {"stage": stage, "sweep": sweep or ""}
    chosen = (
        "SELECT r.run_uuid FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id"
        " JOIN tags s ON s.run_uuid = r.run_uuid AND s.key = 'stage' AND s.value = :stage"
        " WHERE r.lifecycle_stage = 'active' AND e.lifecycle_stage = 'active'"
    )
    if finished:
        chosen += " AND r.status = 'FINISHED'"
    if sweep:
        chosen += (
            " AND r.run_uuid IN (SELECT run_uuid FROM tags WHERE key = 'sweep' AND value = :sweep)"
        )
    engine = _engine(tracking_uri)
    if not sa.inspect(engine).has_table("runs"):
        return pd.DataFrame()
    with engine.connect() as con:
        info = pd.read_sql(
            sa.text(f"SELECT run_uuid, experiment_id FROM runs WHERE run_uuid IN ({chosen})"),
            con,
            params=bind,
        )
        if info.empty:
            return pd.DataFrame()
        tags = pd.read_sql(
            sa.text(f"SELECT run_uuid, key, value FROM tags WHERE run_uuid IN ({chosen})"),
            con,
            params=bind,
        )
        metrics = pd.read_sql(
            sa.text(
                "SELECT run_uuid, key, value, is_nan FROM latest_metrics "
                f"WHERE run_uuid IN ({chosen})"
            ),
            con,
            params=bind,
        )
        frames = [
            tags.pivot(index="run_uuid", columns="key", values="value"),
            metrics.assign(
                value=metrics["value"].astype(float).where(~metrics["is_nan"].astype(bool)),
                key="m." + metrics["key"],
            ).pivot(index="run_uuid", columns="key", values="value"),
        ]
        if params:
            p = pd.read_sql(
                sa.text(
                    f"SELECT run_uuid, key, value FROM params WHERE run_uuid IN ({chosen})"
                    " AND key IN :keys"
                ).bindparams(sa.bindparam("keys", expanding=True)),
                con,
                params={**bind, "keys": list(params)},
            )
            frames.append(
                p.assign(key="p." + p["key"]).pivot(index="run_uuid", columns="key", values="value")
            )
    out = info.set_index("run_uuid").join(frames)
    out["experiment_id"] = out["experiment_id"].astype(str)
    out.columns.name = None
    return out.rename_axis("run_id").reset_index()
