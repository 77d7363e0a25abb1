"""The store rule: which stored series each bar of a (rule, offset) view comes from.

An instrument may have several stored series (say 1m from ``data synth`` and 1H from an
exchange). A bar of any view is built from the *finest* stored series that holds it
complete; a coarser series serves only bars the finer ones cannot build. So adding a series
never changes a bar the store could already build, and a read of (rule, offset, range)
gives the same bars whatever is added later, unless the new series covers time the store
did not have. A bar is always built from one series, never stitched from two.
"""

from __future__ import annotations

import pandas as pd


def finest_complete(views: list[pd.DataFrame]) -> pd.DataFrame:
    """Merge views of the same (rule, offset), finest source first, each with a boolean
    ``complete`` column: per bar, the finest complete one, else the finest incomplete one."""
    out = views[0]
    for view in views[1:]:
        if view.empty:
            continue
        have = out.index[out["complete"].to_numpy(bool)]
        cand = view[~view.index.isin(have)]
        done = cand["complete"].to_numpy(bool)
        fills = cand[done]  # complete here, missing or incomplete in every finer series
        partial = cand[~done & ~cand.index.isin(out.index)]  # time no finer series touches
        if fills.empty and partial.empty:
            continue
        out = pd.concat([out.drop(index=fills.index, errors="ignore"), fills, partial]).sort_index()
    return out
