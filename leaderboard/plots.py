"""Plotly figures of the leaderboard: per-seed spread and score vs. cost trade-offs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.results import kinds
from leaderboard.views import scale


def row_label(cells: pd.DataFrame) -> pd.Series:
    """``method · backbone`` (``← teacher`` when distilled) for legends, with the mark of a
    marked protocol kind (``[paper]``)."""
    teacher = cells["teacher"].map(lambda t: f" ← {t}" if t else "")
    return kinds.marked(
        cells["method"] + " · " + cells["backbone"] + teacher, kinds.kinds_of(cells)
    )


def seed_spread(seeds: pd.DataFrame, metric: str, title: str):
    """Box of the final seeds' val and test scores with every seed drawn as a point
    (``seeds``: :func:`leaderboard.views.seed_table`, already in the headline's units)."""
    import plotly.express as px

    long = seeds.melt(
        id_vars=["seed"], value_vars=["val", "test"], var_name="split", value_name="score"
    )
    fig = px.box(long, x="split", y="score", points="all", hover_data=["seed"], title=title)
    fig.update_yaxes(title=f"{metric}{' ×100' if scale(metric) != 1 else ''}")
    return fig


MAX_TRACES = 60  # colour by row and symbol by dataset only while the legend stays readable


def tradeoff(cells: pd.DataFrame, x: str, x_title: str):
    """Test score vs. ``x`` (``inference_ms`` or ``num_params``), one point per cell, log x;
    a grey dotted segment joins a distilled student to its teacher (``vanilla`` of the teacher
    backbone on the same dataset, sweep, protocol and protocol kind: never across kinds).
    Points are coloured by row and shaped by dataset, or, for large tables (more than
    ``MAX_TRACES`` combinations), coloured by method family (the row is in the hover): one
    trace per group, so 10k cells draw in a blink."""
    import plotly.express as px
    import plotly.graph_objects as go

    c = cells.assign(
        score=cells["test_mean"] * cells["metric"].map(scale),
        row=row_label(cells),
        **{kinds.KIND: kinds.kinds_of(cells)},
    )
    if c["row"].nunique() * c["dataset"].nunique() <= MAX_TRACES:
        fig = px.scatter(
            c,
            x=x,
            y="score",
            color="row",
            symbol="dataset",
            log_x=True,
            hover_data=["cell", "seeds"],
            labels={x: x_title, "score": "test (shown units)"},
        )
    else:  # plain WebGL traces, one per method family: px costs ~0.2 s a figure here
        family = "method family" if "method family" in c else "method"
        fig = go.Figure(
            [
                go.Scattergl(
                    x=g[x],
                    y=g["score"],
                    mode="markers",
                    name=str(name),
                    text=g["row"] + " · " + g["dataset"],
                    hovertemplate="%{text}<br>%{x}, %{y:.2f}",
                )
                for name, g in c.groupby(family)
            ]
        )
        fig.update_xaxes(type="log", title=x_title)
        fig.update_yaxes(title="test (shown units)")
    ctx = ["dataset", "sweep", "protocol", kinds.KIND]
    teachers = c.loc[
        (c["method"] == "vanilla") & (c["teacher"] == ""), ["backbone", *ctx, x, "score"]
    ]
    pairs = c.loc[c["teacher"] != "", ["teacher", *ctx, x, "score"]].merge(
        teachers.rename(columns={"backbone": "teacher"}), on=["teacher", *ctx], suffixes=("", "_t")
    )
    if len(pairs):  # (teacher, student, NaN) triples: NaN breaks the line between pairs
        gap = np.full(len(pairs), np.nan)
        xs = np.column_stack([pairs[f"{x}_t"], pairs[x], gap]).ravel()
        ys = np.column_stack([pairs["score_t"], pairs["score"], gap]).ravel()
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                showlegend=False,
                hoverinfo="skip",
                line={"color": "lightgrey", "dash": "dot"},
            )
        )
    return fig
