"""Plotly figures shared by the builder preview and the monitor notebook."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go


def equity_figure(equity: pd.DataFrame, title: str = "Equity") -> go.Figure:
    """One line per column (``total`` first and thicker), UTC time axis."""
    fig = go.Figure()
    for col in equity.columns:
        fig.add_trace(go.Scatter(x=equity.index, y=equity[col], name=str(col), mode="lines",
                                 line={"width": 3 if col == "total" else 1.5}))
    fig.update_layout(title=title, height=380, margin={"l": 40, "r": 10, "t": 40, "b": 30},
                      xaxis_title="UTC", yaxis_title="USDT", legend={"orientation": "h"})
    return fig


def candles_figure(bars: pd.DataFrame, fills: pd.DataFrame | None = None, title: str = "") -> go.Figure:
    """Candlesticks with fills marked: buys as up triangles, sells as down triangles, at the fill price."""
    fig = go.Figure(go.Candlestick(x=bars.index, open=bars["open"], high=bars["high"], low=bars["low"],
                                   close=bars["close"], name="price"))
    if fills is not None and len(fills):
        for side, symbol, color in (("buy", "triangle-up", "#1f77b4"), ("sell", "triangle-down", "#ff7f0e")):
            f = fills[fills["side"] == side]
            if len(f):
                fig.add_trace(go.Scatter(x=f["time"], y=f["price"], mode="markers", name=f"{side} fills",
                                         marker={"symbol": symbol, "size": 11, "color": color,
                                                 "line": {"width": 1, "color": "black"}},
                                         text=[f"{side} {sz:g} @ {px:g}" for sz, px in zip(f["size"], f["price"], strict=True)]))
    fig.update_layout(title=title, height=420, xaxis_rangeslider_visible=False, margin={"l": 40, "r": 10, "t": 40, "b": 30},
                      xaxis_title="UTC (bar open)")
    return fig
