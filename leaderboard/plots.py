"""Plotly figures of the leaderboard: per-seed spread and score vs. cost trade-offs."""

from __future__ import annotations

import pandas as pd

from leaderboard.views import scale


def row_label(cells: pd.DataFrame) -> pd.Series:
    """``method · backbone`` (``← teacher`` when distilled) for legends."""
    teacher = cells["teacher"].map(lambda t: f" ← {t}" if t else "")
    return cells["method"] + " · " + cells["backbone"] + teacher


def seed_spread(seeds: pd.DataFrame, metric: str, title: str):
    """Box of the final seeds' val and test scores with every seed drawn as a point."""
    import plotly.express as px

    s = scale(metric)
    long = seeds.melt(id_vars=["seed"], value_vars=["val", "test"], var_name="split",
                      value_name="score")  # fmt: skip
    long["score"] = long["score"] * s
    fig = px.box(long, x="split", y="score", points="all", hover_data=["seed"], title=title)
    fig.update_yaxes(title=f"{metric}{' ×100' if s != 1 else ''}")
    return fig


def tradeoff(cells: pd.DataFrame, x: str, x_title: str):
    """Test score vs. ``x`` (``inference_ms`` or ``num_params``), one point per cell, log x;
    a grey segment joins a distilled student to its teacher (``vanilla`` of the teacher
    backbone on the same dataset and sweep)."""
    import plotly.express as px
    import plotly.graph_objects as go

    c = cells.assign(score=cells["test_mean"] * cells["metric"].map(scale), row=row_label(cells))
    fig = px.scatter(c, x=x, y="score", color="row", symbol="dataset", log_x=True,
                     hover_data=["cell", "seeds"],
                     labels={x: x_title, "score": "test (shown units)"})  # fmt: skip
    teachers = c[(c["method"] == "vanilla") & (c["teacher"] == "")]
    for _, s in c[c["teacher"] != ""].iterrows():
        t = teachers[(teachers["backbone"] == s["teacher"]) & (teachers["dataset"] == s["dataset"])
                     & (teachers["sweep"] == s["sweep"])]  # fmt: skip
        if len(t):
            fig.add_trace(go.Scatter(x=[t[x].iloc[0], s[x]], y=[t["score"].iloc[0], s["score"]],
                                     mode="lines", line={"color": "lightgrey", "dash": "dot"},
                                     showlegend=False, hoverinfo="skip"))  # fmt: skip
    return fig
