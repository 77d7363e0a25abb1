"""Generate the research notebooks (run: .venv/bin/python notebooks/research/make_notebooks.py).

Each notebook has a cell tagged ``parameters`` so papermill (the tests, and
``qlib-local backtest``) can run it headless on any store and config.
"""

from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).resolve().parent


def md(text):
    return nbf.v4.new_markdown_cell(text.strip())


def code(text, tags=None):
    cell = nbf.v4.new_code_cell(text.strip())
    if tags:
        cell.metadata["tags"] = tags
    return cell


def params(text):
    return code(text, ["parameters"])


def write(name, cells):
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = cells
    nbf.write(nb, HERE / name)


write("01_data_explorer.ipynb", [
    md("# Data explorer\nWhat the local store holds, where the gaps are, and a candlestick chart."),
    params('root = "../../data"\nexchange = "okx"\ninstrument = None  # None: the first one\ntimeframe = "1H"\nbars = 300'),
    code("""
import pandas as pd
import plotly.graph_objects as go
from qlib_local.store import KlineStore
from qlib_local.timeframes import parse_timeframe

store = KlineStore(root)
insts = store.instruments(exchange)
step = pd.Timedelta(milliseconds=parse_timeframe(timeframe))
rows = []
for inst in insts:
    df = store.read(exchange, inst, timeframe, columns=("close",))
    expected = int((df.index[-1] - df.index[0]) / step) + 1 if len(df) else 0
    rows.append({"instrument": inst, "timeframes": ", ".join(store.timeframes(exchange, inst)),
                 "first": df.index.min(), "last": df.index.max(), "bars": len(df), "missing": expected - len(df)})
coverage = pd.DataFrame(rows).set_index("instrument")
coverage
"""),
    code("""
inst = instrument or insts[0]
df = store.read(exchange, inst, timeframe).tail(bars)
fig = go.Figure(go.Candlestick(x=df.index, open=df.open, high=df.high, low=df.low, close=df.close, name=inst))
fig.update_layout(title=f"{inst} {timeframe}", xaxis_rangeslider_visible=False, height=450)
fig.show()
"""),
])

write("02_factor_research.ipynb", [
    md("# Factor research\nInformation coefficient (rank IC) and quantile returns of one factor across instruments."),
    params('root = "../../data"\nexchange = "okx"\ntimeframe = "1H"\nfactor = "Momentum_24"\nhorizon = 24\nquantiles = 5'),
    code("""
import pandas as pd
import plotly.express as px
from qlib_local.research import Bars, FactorContext, FactorRegistry
from qlib_local.store import KlineStore

store = KlineStore(root)
bars = Bars(store.read_panel(exchange, None, timeframe, fields=("open", "high", "low", "close", "volume", "quote_volume")))
values = FactorContext(bars, FactorRegistry.load()).frame(factor)
fwd = bars.close.shift(-horizon) / bars.close - 1.0
ic = values.rank(axis=1).corrwith(fwd.rank(axis=1), axis=1).dropna()
pd.Series({"mean IC": ic.mean(), "IC std": ic.std(), "IC IR": ic.mean() / ic.std(), "bars": len(ic)})
"""),
    code("""
px.line(ic.rolling(max(1, len(ic) // 20)).mean(), title=f"rolling rank IC of {factor} vs {horizon}-bar forward return").show()
"""),
    code("""
pct = values.rank(axis=1, pct=True)
bucket = (pct * quantiles).clip(upper=quantiles - 1e-9).floordiv(1).add(1)
stacked = pd.DataFrame({"q": bucket.stack(), "fwd": fwd.stack()}).dropna()
by_q = stacked.groupby("q")["fwd"].mean()
px.bar(x=by_q.index.astype(int), y=by_q.values, labels={"x": "quantile", "y": "mean forward return"},
       title=f"{factor}: mean {horizon}-bar forward return by quantile").show()
by_q
"""),
])

write("03_backtest.ipynb", [
    md("# Backtest report\nStatistics, equity and drawdown, per-strategy curves, positions and orders on a chart, "
       "read from what `qlib-local backtest CONFIG --out DIR` wrote (the backtest is not run again)."),
    params('out = "."  # the backtest\'s --out folder\nconfig = None  # the config it ran, for the record'),
    code("""
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from qlib_local.backtest.report import read_outputs, show_figure
from qlib_local.backtest.stats import drawdown

res = read_outputs(out)
stats = res.stats
print(f"{config or out}: {stats['start']} .. {stats['end']}, {stats['bars']} {stats['base_timeframe']} bars, "
      f"settled in {stats['settle_ccy']}")
pd.DataFrame({"account": stats["account"], **stats["strategies"]})
"""),
    code("""
total = res.equity["total"]
fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3])
fig.add_trace(go.Scatter(x=total.index, y=total, name="equity"), row=1, col=1)
fig.add_trace(go.Scatter(x=total.index, y=drawdown(total), name="drawdown", fill="tozeroy"), row=2, col=1)
fig.update_layout(title="Account equity and drawdown", height=500)
show_figure(fig)
"""),
    code("""
fig = go.Figure([go.Scatter(x=res.equity.index, y=res.equity[c], name=c) for c in res.equity.columns])
fig.update_layout(title="Equity per strategy", height=400)
show_figure(fig)
"""),
    code("""
exposure = (res.positions * res.prices).abs()
fig = go.Figure([go.Scatter(x=exposure.index, y=exposure[c], name=c, stackgroup="one") for c in exposure.columns
                 if exposure[c].any()])
fig.update_layout(title="Gross exposure per instrument (contracts x price, before contract value)", height=400)
show_figure(fig)
"""),
    code("""
# Funding paid (-) and received (+) per strategy, cumulative (settlement currency); see stats["funding"]
funding = res.funding.cumsum()
fig = go.Figure([go.Scatter(x=funding.index, y=funding[c], name=c) for c in funding.columns])
fig.update_layout(title=f"Cumulative funding ({stats['funding']['mode']}, {stats['funding']['settlements']} settlements)",
                  height=350)
show_figure(fig)
for note in stats["funding"]["notes"]:
    print("note:", note)
"""),
    code("""
orders = res.orders
inst = orders["instrument"].value_counts().index[0] if len(orders) else res.prices.columns[0]
close = res.prices[inst]
o = orders[orders["instrument"] == inst]
fig = go.Figure([go.Scatter(x=close.index, y=close, name=inst, line={"color": "gray"})])
for side, color, symbol in (("buy", "green", "triangle-up"), ("sell", "red", "triangle-down")):
    s = o[o["side"] == side]
    fig.add_trace(go.Scatter(x=s["timestamp"], y=s["price"], mode="markers", name=side,
                             marker={"color": color, "symbol": symbol, "size": 9}))
fig.update_layout(title=f"Orders on {inst} (at bar close)", height=400)
show_figure(fig)
orders.tail(10)
"""),
])

write("04_parameter_sweep.ipynb", [
    md("# Parameter sweep\nEvery combination of a strategy's parameters in one vectorized run, as a heatmap."),
    params('config = "../../strategies/example.yaml"\nroot = "../../data"\nstrategy = "SmaCross_20_60"\n'
           'grid = {"fast": [5, 10, 20, 30], "slow": [40, 60, 90]}\nstart = None\nend = None'),
    code("""
import plotly.express as px
from qlib_local.backtest import grid_names, run_sweep, sweep_table
from qlib_local.research import load_config, load_market_data, parse_name
from qlib_local.store import KlineStore

store = KlineStore(root)
cfg = load_config(config, store)
data = load_market_data(cfg, store, start, end)
names = grid_names(parse_name(strategy)[0], grid)
equity = run_sweep(cfg, data, strategy, names)
table = sweep_table(equity, grid)
table.sort_values("total_return", ascending=False).head(10)
"""),
    code("""
keys = list(grid)
heat = table["total_return"].unstack(keys[1])
px.imshow(heat, text_auto=".1%", aspect="auto", labels={"x": keys[1], "y": keys[0], "color": "return"},
          title=f"{parse_name(strategy)[0]}: total return by parameters").show()
"""),
])
