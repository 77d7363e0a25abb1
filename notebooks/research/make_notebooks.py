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
    md("# Parameter sweep\nAny config fields as axes (strategy parameters, `rule_type`, `leverage`, `hold_period`, "
       "fees, ...), every combination its own account, one table; equity curves on demand."),
    params('config = "../../strategies/example.yaml"\nroot = "../../data"\n'
           'strategies = ["SmaCross_20_60"]  # keep only these strategies of the config (None: all)\n'
           'grid = {"SmaCross_20_60": {"strategy_name": {"fast": [5, 10, 20, 30], "slow": [40, 60, 90]},\n'
           '                           "leverage": [1, 2]}}\nmetric = "sharpe"\nstart = None\nend = None'),
    code("""
import pandas as pd
import plotly.express as px
from qlib_local.backtest import plan_sweep, sweep
from qlib_local.backtest.sweep import metric_column
from qlib_local.store import KlineStore

store = KlineStore(root)
plan = plan_sweep(config, grid, store, strategies=strategies)
res = sweep(plan, store, start, end)
col = metric_column(metric)
print(f"{len(plan)} combinations, {len(plan.errors)} invalid, {len(res.chunks)} chunk(s)")
res.best(metric, 10)
"""),
    code("""
res.errors.head(20)  # invalid combinations, each with the reason (empty when all are valid)
"""),
    code("""
x, y = (plan.labels + plan.labels)[:2]
valid = res.table[res.table["error"].isna()]
heat = valid.pivot_table(index=x, columns=y, values=col, aggfunc="max") if x != y else valid.groupby(x)[[col]].max()
px.imshow(heat, text_auto=".2f", aspect="auto", labels={"color": col},
          title=f"best {col} by {x} and {y} (max over the other axes)").show()
"""),
    code("""
top = res.best(metric, 5).index.tolist()
curves = res.equity(top)  # re-run on demand: the sweep keeps statistics, not curves
curves.columns = [", ".join(f"{a}={plan.values[k][i]}" for i, a in enumerate(plan.labels)) for k in top]
px.line(curves, title=f"equity of the 5 best combinations by {col}").show()
"""),
])

write("05_walk_forward.ipynb", [
    md("# Walk-forward\nOn each train window the grid's best combination (by `metric`) is chosen, then traded on "
       "the next test window; the test windows stitch into one out-of-sample curve. In-sample and out-of-sample "
       "statistics side by side, and the parameters chosen per window."),
    params('config = "../../strategies/example.yaml"\nroot = "../../data"\n'
           'strategies = ["SmaCross_20_60"]  # keep only these strategies of the config (None: all)\n'
           'grid = {"SmaCross_20_60": {"strategy_name": {"fast": [5, 10, 20], "slow": [30, 60]}}}\n'
           'train = "20d"\ntest = "5d"\nstep = None  # None: the test window\nanchored = False\n'
           'metric = "sharpe"\nstart = None\nend = None\n'
           'results = None  # a `qlib-local walkforward --out` folder: show it instead of computing'),
    code("""
import pandas as pd
import plotly.graph_objects as go
from qlib_local.backtest import plan_sweep
from qlib_local.backtest.walkforward import REPORTED, WalkForward, walk_forward
from qlib_local.store import KlineStore

if results:
    wf = WalkForward.read(results)
else:
    store = KlineStore(root)
    plan = plan_sweep(config, grid, store, strategies=strategies)
    wf = walk_forward(plan, store, train, test, step, anchored, metric, start, end)
s = wf.summary
print(f"{s['windows']} windows, {s['train_bars']} train + {s['test_bars']} test {s['base_timeframe']} bars, "
      f"{'anchored' if s['anchored'] else 'rolling'}, chosen by {s['metric']}")
wf.windows[["window", "train_start", "train_end", "test_start", "test_end", "combination", *s["axes"]]]
"""),
    code("""
side = pd.DataFrame({"in sample (mean of windows)": s["in_sample_mean"], "out of sample (stitched)": s["out_of_sample"]})
side.loc["efficiency (OOS / IS annualized return)"] = [None, s["efficiency"]]
side
"""),
    code("""
per = wf.windows.set_index("window")[[f"{k}_{m}" for m in REPORTED for k in ("is", "oos")]]
per
"""),
    code("""
fig = go.Figure(go.Scatter(x=wf.equity.index, y=wf.equity, name="out-of-sample equity"))
for t in wf.windows["test_start"]:
    fig.add_vline(x=t, line_dash="dot", line_color="gray")
fig.update_layout(title="Stitched out-of-sample equity (dotted: test window starts)", height=420)
fig.show()
"""),
    code("""
m = s["metric"] if f"is_{s['metric']}" in wf.windows else "total_return"
fig = go.Figure([go.Bar(x=wf.windows["window"], y=wf.windows[f"is_{m}"], name="in sample"),
                 go.Bar(x=wf.windows["window"], y=wf.windows[f"oos_{m}"], name="out of sample")])
fig.update_layout(barmode="group", title=f"{m} per window: in sample vs out of sample", xaxis_title="window", height=380)
fig.show()
"""),
])
