"""Audit tables and texts of a live run (what the notebook shows and notifications say)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from qlib_local.live.twap import PARENT_TYPE as TWAP_PARENT
from qlib_local.live.twap import PARENT_TYPES, slice_of
from qlib_local.timeframes import from_ms

if TYPE_CHECKING:
    from qlib_local.live.session import LiveSession


def specs_table(s: LiveSession) -> pd.DataFrame:
    insts = s.book.instruments if s.book else []
    rows = [{"instrument": i, "ctVal": sp.ct_val, "lotSz": sp.lot_sz, "minSz": sp.min_sz, "maxLever": sp.max_lever}
            for i in insts if (sp := s.specs.get(i)) is not None]
    return pd.DataFrame(rows)


def reconcile_table(s: LiveSession) -> pd.DataFrame:
    return pd.DataFrame({"finding": s.recon.lines() if s.recon else []})


def data_table(s: LiveSession) -> pd.DataFrame:
    if s.data is None:
        return pd.DataFrame()
    rows = [{"instrument": i, "status": "ready"} for i in s.data.ready]
    rows += [{"instrument": i, "status": "fetched"} for i in s.data.fetched if i not in s.data.ready]
    rows += [{"instrument": i, "status": f"STALE: {r}"} for i, r in s.data.stale.items()]
    return pd.DataFrame(rows)


def price_checks_table(s: LiveSession) -> pd.DataFrame:
    """The price guard: model price (the store's close) against the exchange's last and mark."""
    rows = [{"instrument": c.inst_id, "model": c.model, "last": c.last, "mark": c.mark,
             "off": c.deviation, "band": c.band, "traded": c.ok} for c in s.price_checks]
    return pd.DataFrame(rows)


def not_traded_table(s: LiveSession) -> pd.DataFrame:
    """Instruments the run names as not traded (stale, price check, size cap, rejected, minSz, ...)."""
    return pd.DataFrame([{"instrument": i, "why": why} for i, why in sorted(s.untraded.items())])


def targets_table(s: LiveSession) -> pd.DataFrame:
    if s.result is None:
        return pd.DataFrame()
    t = s.result.targets.copy()
    t.loc["NET"] = s.result.net
    t = t.T
    t["price"] = s.result.prices.reindex(t.index)
    t["held"] = pd.Series(s.net_positions(after=False)).reindex(t.index).fillna(0.0)
    return t


def orders_table(s: LiveSession) -> pd.DataFrame:
    if s.ledger is None or s.bar_ms is None:
        return pd.DataFrame()
    df = s.ledger.query("SELECT cl_ord_id, inst_id, side, pos_side, sz, reduce_only, leg, attempt, state, "
                        "acc_fill_sz, avg_px, fee, code, msg FROM orders WHERE account=? AND bar_ts=? "
                        "ORDER BY leg, inst_id", (s.acct.name, s.bar_ms))
    return df


def execution_table(s: LiveSession) -> pd.DataFrame:
    """Each planned order (parent) of this bar with what carried it out: children, filled size,
    average fill price against the bar's close (implementation shortfall in bps, > 0 a cost),
    fees paid and the share filled as a maker, and its style. A market-style order is its own only child."""
    cols = ["parent", "instrument", "style", "side", "planned", "filled", "children", "avg_px", "close",
            "shortfall_bps", "fees", "maker_share"]
    if s.ledger is None or s.bar_ms is None:
        return pd.DataFrame(columns=cols)
    rows = s.ledger.orders(s.acct.name, bar_ts=s.bar_ms)
    heads = {o.cl_ord_id: o for o in rows if o.ord_type in PARENT_TYPES or not o.parent}
    members: dict[str, list] = {k: [] for k in heads}
    for o in rows:
        if o.ord_type not in PARENT_TYPES:
            members.setdefault(o.parent or o.cl_ord_id, []).append(o)
    fills = s.ledger.fills(s.acct.name)
    fills = fills[fills["cl_ord_id"].isin({o.cl_ord_id for o in rows})]
    maker_ids = {o.cl_ord_id for o in rows if o.ord_type == "post_only"}
    close = s.result.prices if s.result is not None else pd.Series(dtype=float)
    out = []
    for pid, head in heads.items():
        kids = members.get(pid, [])
        f = fills[fills["cl_ord_id"].isin({k.cl_ord_id for k in kids})]
        ref = float(close.get(head.inst_id, float("nan")))
        qty, avg, shortfall = filled(f, head.side, ref)
        maker = float(f.loc[f["cl_ord_id"].isin(maker_ids), "fill_sz"].sum())
        out.append({"parent": pid, "instrument": head.inst_id, "side": head.side, "planned": head.sz, "filled": qty,
                    "style": head.ord_type if head.ord_type in PARENT_TYPES else "market",
                    "children": len(kids), "avg_px": avg, "close": ref, "shortfall_bps": shortfall,
                    "fees": float(-f["fee"].sum()), "maker_share": maker / qty if qty > 0 else float("nan")})
    return pd.DataFrame(out, columns=cols)


def filled(f: pd.DataFrame, side: str, ref: float) -> tuple[float, float, float]:
    """(contracts filled, average fill price, implementation shortfall in bps against ``ref``, > 0 a
    cost) of an order's fills ``f``; NaN price and shortfall when nothing filled."""
    qty = float(f["fill_sz"].sum())
    if qty <= 0:
        return qty, float("nan"), float("nan")
    avg = float((f["fill_px"] * f["fill_sz"]).sum() / qty)
    sign = 1.0 if side == "buy" else -1.0
    return qty, avg, sign * (avg - ref) / ref * 1e4 if ref > 0 else float("nan")


def children_table(s: LiveSession) -> pd.DataFrame:
    """Each child order of this bar's parents, under its parent: the twap slice it belongs to, its
    type, when it filled (the exchange's time), its fill price against the bar's close
    (implementation shortfall in bps, > 0 a cost) and its fee."""
    cols = ["parent", "slice", "child", "type", "sz", "filled", "filled_at", "avg_px", "shortfall_bps", "fee",
            "state"]
    if s.ledger is None or s.bar_ms is None:
        return pd.DataFrame(columns=cols)
    every = s.ledger.orders(s.acct.name, bar_ts=s.bar_ms)
    twaps = {o.cl_ord_id for o in every if o.ord_type == TWAP_PARENT}
    rows = [o for o in every if o.parent]
    fills = s.ledger.fills(s.acct.name)
    fills = fills[fills["cl_ord_id"].isin({o.cl_ord_id for o in rows})]
    close = s.result.prices if s.result is not None else pd.Series(dtype=float)
    out = []
    for o in rows:
        f = fills[fills["cl_ord_id"] == o.cl_ord_id]
        qty, avg, shortfall = filled(f, o.side, float(close.get(o.inst_id, float("nan"))))
        out.append({"parent": o.parent, "slice": slice_of(o.cl_ord_id) if o.parent in twaps else None, "child": o.cl_ord_id,
                    "type": o.ord_type, "sz": o.sz, "filled": qty,
                    "filled_at": from_ms(int(f["ts"].min())) if qty > 0 else None, "avg_px": avg,
                    "shortfall_bps": shortfall, "fee": float(-f["fee"].sum()), "state": o.state})
    return pd.DataFrame(out, columns=cols)


def positions_table(s: LiveSession) -> pd.DataFrame:
    before, after = s.net_positions(after=False), s.net_positions(after=True)
    target = s.result.net if s.result is not None else pd.Series(dtype=float)
    idx = sorted(set(before) | set(after) | set(target[target != 0].index))
    return pd.DataFrame({"before": pd.Series(before), "target": target, "after": pd.Series(after)}).reindex(idx).fillna(0.0)


def _by_bar(frame: pd.DataFrame, columns: str, values: str) -> pd.DataFrame:
    """Ledger rows keyed by bar_ts, one column per ``columns`` value."""
    if frame.empty:
        return frame
    frame["bar"] = frame["bar_ts"].map(from_ms)
    return frame.pivot_table(index="bar", columns=columns, values=values)


def equity_table(s: LiveSession) -> pd.DataFrame:
    if s.ledger is None:
        return pd.DataFrame()
    return _by_bar(s.ledger.equity(s.acct.name), "kind", "total_eq")


def strategy_equity_frame(s: LiveSession) -> pd.DataFrame:
    if s.ledger is None:
        return pd.DataFrame()
    return _by_bar(s.ledger.strategy_equity(s.acct.name), "strategy", "equity")


def money(amount: float, ccy: str, usd: float | None = None) -> str:
    """USDT (or USD: a COIN-M account of several coins) to the cent; a coin to 8 significant
    digits with its USD value (the exchange's)."""
    if ccy in ("USDT", "USD"):
        return f"{amount:,.2f} {ccy}"
    return f"{amount:.8g} {ccy}" + (f" (~{usd:,.2f} USD)" if usd is not None and usd == usd else "")


def funding_table(s: LiveSession) -> pd.DataFrame:
    """Funding bills attributed to this bar (settlement currency; > 0 received), one row each."""
    if s.ledger is None or s.bar_ms is None:
        return pd.DataFrame(columns=["bill_id", "inst_id", "ccy", "amount", "time"])
    df = s.ledger.funding(s.acct.name, s.bar_ms)
    df["time"] = df["ts"].map(from_ms)
    return df[["bill_id", "inst_id", "ccy", "amount", "time"]]


def strategy_funding_frame(s: LiveSession) -> pd.DataFrame:
    """Funding per strategy and bar (settlement currency)."""
    if s.ledger is None:
        return pd.DataFrame()
    return _by_bar(s.ledger.strategy_funding(s.acct.name), "strategy", "amount")


def summary_text(s: LiveSession) -> str:
    lines = [f"account {s.acct.name} ({s.acct.mode}), bar {from_ms(s.bar_ms or 0):%Y-%m-%d %H:%M} UTC"]
    if s.report is not None:
        rep = s.report
        earlier = set(rep.earlier)
        lines.append(f"orders: {len(rep.acks) - len(earlier)} acknowledged, {len(rep.rejected)} rejected, "
                     f"{len(rep.unknown)} unknown, {rep.new_fills} fill(s)"
                     + (f", {rep.rounds} rounds" if rep.rounds > 1 else ""))
        for cl, st in rep.statuses.items():
            tag = ", placed before this run" if cl in earlier else ""
            lines.append(f"- {st.inst_id} {st.side} {st.acc_fill_sz:g}/{st.sz:g} @ {st.avg_px or 0:g} ({st.state}{tag})")
        for cl, a in rep.rejected.items():
            lines.append(f"- REJECTED {cl}: {a.text}")
    if s.untraded:
        lines.append("not traded: " + "; ".join(f"{i} ({why})" for i, why in sorted(s.untraded.items())))
    pos = s.net_positions(after=True)
    lines.append("positions: " + (", ".join(f"{i} {v:g}" for i, v in sorted(pos.items())) or "flat"))
    if s.balance_after is not None:
        lines.append("equity: " + money(s.balance_after.total_eq, s.balance_after.ccy, s.balance_after.eq_usd))
    if len(s.wallets_after) > 1:  # a COIN-M account of several coins: each wallet, at its coin's mark
        lines.append("wallets: " + ", ".join(f"{b.total_eq:.8g} {c} (@ {s.coin_usd.get(c, float('nan')):,.2f})"
                                             for c, b in sorted(s.wallets_after.items())))
    for sid, v in s.strategy_equity.items():
        lines.append(f"- {sid}: {v:,.2f}" if s.settle_ccy == "USDT" else
                     f"- {sid}: {v:,.2f} USD" if s.settle_ccy == "USD" else f"- {sid}: {v:.8g} {s.settle_ccy}")
    fund = funding_table(s)
    if not fund.empty and fund["ccy"].nunique() > 1:  # bills in several coins: a sum per coin
        sums = fund.groupby("ccy")["amount"].sum()
        lines.append("funding this bar: " + ", ".join(f"{v:+.8g} {c}" for c, v in sums.items()) + " ("
                     + ", ".join(f"{r.inst_id} {r.amount:+.8g}" for r in fund.itertuples()) + ")")
    elif not fund.empty:
        lines.append(f"funding this bar: {fund['amount'].sum():+.8g} {s.settle_ccy} ("
                     + ", ".join(f"{r.inst_id} {r.amount:+.8g}" for r in fund.itertuples()) + ")")
    if s.alerts:
        lines.append("alerts:")
        lines += [f"- {a}" for a in s.alerts]
    return "\n".join(lines)


def equity_chart(s: LiveSession):
    """Account equity (after each bar) and per-strategy equity; a matplotlib figure or None."""
    eq, se = equity_table(s), strategy_equity_frame(s)
    if eq.empty:
        return None
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 3.2))
    eq.plot(ax=ax[0], title=f"account equity ({s.settle_ccy})")
    if not se.empty:
        se.plot(ax=ax[1], title="equity per strategy")
    fig.tight_layout()
    return fig
