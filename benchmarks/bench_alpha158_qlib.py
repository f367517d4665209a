"""m002's Alpha158 against Qlib's own operators, feature by feature, on the same prices.

Qlib (``pip install pyqlib``) is never a dependency of m002: it lives in a virtual environment
of its own (default ``/tmp/qlibvenv``, made with ``python3.11 -m venv /tmp/qlibvenv &&
/tmp/qlibvenv/bin/pip install pyqlib``), and this script runs itself there as a child process
that reads the prices from a parquet file and writes Qlib's values back.

The child evaluates Qlib's Alpha158 field strings (``Alpha158DL.get_feature_config()``) with
Qlib's expression parser and operators (``qlib.data.ops``); only the leaf loader
(``qlib.data.base.Feature._load_internal``) is replaced, so that the operators read the frame
given here instead of Qlib's ``.bin`` store. The leaves are float64 by default; Qlib's store
holds float32, which alone moves some features by more than 1e-6 (``--float32`` shows by how
much).

Compared: every row where m002's value is defined (after its warm-up; Qlib's first rows are
shorter windows, ``min_periods=1``). Relative difference ``|m - q| / max(|q|, floor)`` with
``floor`` = 1e-8 (``--floor``): a value below it is compared absolutely. Rows where one side
is missing and the other is not are counted apart. Prints one table (max relative difference
per feature and family) and one JSON line.

    python benchmarks/bench_alpha158_qlib.py                       # 5 sample tickers
    python benchmarks/bench_alpha158_qlib.py --tickers AAPL C --float32
    python benchmarks/bench_alpha158_qlib.py --write-fixture \\
        tests/features/data/alpha158_qlib.parquet
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "sp500_sample"
QLIB_PYTHON = "/tmp/qlibvenv/bin/python"
TICKERS = ["ADBE", "AVGO", "BA", "C", "MNST"]  # MNST has 22 zero-volume days
PRICE_COLUMNS = ["open", "high", "low", "close", "volume"]
_EPS_Q = 1e-12  # what Qlib adds to a denominator


# --- child: runs in Qlib's venv, imports neither m002 nor polars ------------------------------


def qlib_child(prices_path: str, out_path: str, float32: bool) -> None:
    import types

    import numpy as np
    import pandas as pd
    import qlib
    from qlib.contrib.data.loader import Alpha158DL
    from qlib.data import base, ops
    from qlib.utils import parse_field

    prices = pd.read_parquet(prices_path)
    dtype = np.float32 if float32 else np.float64
    data = {
        ticker: {c: frame[c].to_numpy(dtype).astype(dtype) for c in PRICE_COLUMNS}
        for ticker, frame in prices.groupby("ticker", sort=True)
    }

    def load_leaf(self: Any, instrument: str, start_index: int, end_index: int, *args: Any) -> Any:
        return pd.Series(data[instrument][self._name][start_index : end_index + 1])

    base.Feature._load_internal = load_leaf  # type: ignore[method-assign]
    namespace = types.SimpleNamespace(**{op.__name__: op for op in ops.OpsList})
    fields, names = Alpha158DL.get_feature_config()
    out = []
    for ticker, frame in prices.groupby("ticker", sort=True):
        n = len(frame)
        values: dict[str, Any] = {"ticker": frame["ticker"].to_numpy(), "date": frame["date"]}
        for field, name in zip(fields, names, strict=True):
            if "vwap" in field:
                continue
            expr = eval(  # Qlib's own field strings, evaluated as Qlib does
                parse_field(field), {"Operators": namespace, "Feature": base.Feature}
            )
            with np.errstate(all="ignore"):
                values[name] = expr.load(ticker, 0, n - 1, "day").to_numpy(np.float64)
        out.append(pd.DataFrame(values).reset_index(drop=True))
    result = pd.concat(out, ignore_index=True)
    result.attrs["qlib"] = qlib.__version__
    result.to_parquet(out_path)
    print(json.dumps({"qlib": qlib.__version__, "rows": len(result)}))


# --- parent: m002's venv -----------------------------------------------------------------------


def run_qlib(prices: Any, qlib_python: str, float32: bool) -> tuple[Any, str]:
    """Qlib's Alpha158 values of ``prices`` (a polars frame), and Qlib's version."""
    import polars as pl

    with tempfile.TemporaryDirectory(prefix="m002_qlib_") as tmp:
        src, dst = Path(tmp) / "prices.parquet", Path(tmp) / "qlib.parquet"
        prices.select("ticker", "date", *PRICE_COLUMNS).write_parquet(src)
        cmd = [qlib_python, __file__, "--child", str(src), str(dst)]
        if float32:
            cmd.append("--float32")
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            msg = f"Qlib child failed:\n{done.stderr[-3000:]}"
            raise RuntimeError(msg)
        version = json.loads(done.stdout.strip().splitlines()[-1])["qlib"]
        return pl.read_parquet(dst), version


def compare(ours: Any, qlib: Any, names: list[str], floor: float) -> list[dict[str, Any]]:
    """Per feature: rows compared, max relative difference, rows where one side is missing."""
    import polars as pl

    joined = ours.select("ticker", "date", *names).join(
        qlib.select("ticker", "date", *names), on=["ticker", "date"], suffix="_q"
    )
    rows = []
    for name in names:
        m, q = pl.col(name), pl.col(f"{name}_q")
        q_ok = q.is_not_null() & q.is_finite()
        both = joined.filter(m.is_not_null() & q_ok)
        diff = (both[name] - both[f"{name}_q"]).abs()
        rel = (diff / both[f"{name}_q"].abs().clip(floor)).max()
        rows.append(
            {
                "feature": name,
                "compared": both.height,
                "max_rel_diff": float(rel) if rel is not None else None,  # type: ignore[arg-type]
                "max_abs_diff": float(diff.max()) if both.height else None,  # type: ignore[arg-type]
                "m002_null_qlib_value": joined.filter(m.is_null() & q_ok).height,
                "m002_value_qlib_nan": joined.filter(m.is_not_null() & ~q_ok).height,
            }
        )
    return rows


def _std(values: list[Fraction]) -> float:
    mean = sum(values, Fraction(0)) / len(values)
    return math.sqrt(sum(((x - mean) ** 2 for x in values), Fraction(0)) / (len(values) - 1))


def _corr(xs: list[Fraction], ys: list[Fraction]) -> float | None:
    mx, my = sum(xs, Fraction(0)) / len(xs), sum(ys, Fraction(0)) / len(ys)
    sxy = sum(((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)), Fraction(0))
    sxx = sum(((x - mx) ** 2 for x in xs), Fraction(0))
    syy = sum(((y - my) ** 2 for y in ys), Fraction(0))
    return float(sxy) / math.sqrt(sxx * syy) if sxx and syy else None


def exact_value(fam: str, d: int, w: dict[str, list[float]]) -> float | None:
    """The feature computed in exact rational arithmetic from the float inputs of its window
    (``w``: the window's rows plus the row before it; logs and square roots in floats), for
    the families whose differences this script has to explain; None for the others."""
    eps = Fraction(_EPS_Q)
    c, v = [Fraction(x) for x in w["close"]], [Fraction(x) for x in w["volume"]]
    cw, vw = c[1:], v[1:]
    if fam in ("STD", "VSTD"):
        values = cw if fam == "STD" else vw
        return _std(values) / float(cw[-1] if fam == "STD" else vw[-1] + eps)
    if fam in ("BETA", "RSQR", "RESI"):
        xs = [Fraction(i + 1) for i in range(d)]
        xm, ym = sum(xs, Fraction(0)) / d, sum(cw, Fraction(0)) / d
        sxy = sum(((x - xm) * (y - ym) for x, y in zip(xs, cw, strict=True)), Fraction(0))
        sxx = sum(((x - xm) ** 2 for x in xs), Fraction(0))
        syy = sum(((y - ym) ** 2 for y in cw), Fraction(0))
        slope = sxy / sxx
        if fam == "BETA":
            return float(slope / cw[-1])
        if fam == "RSQR":
            return float(sxy * sxy / (sxx * syy)) if syy else None
        return float((cw[-1] - (ym + slope * (d - xm))) / cw[-1])
    steps = [(c[k], c[k - 1], v[k], v[k - 1]) for k in range(1, d + 1)]
    if fam == "WVMA":
        ws = [abs(ck / cp - 1) * vk for ck, cp, vk, _ in steps]
        return _std(ws) / float(sum(ws, Fraction(0)) / d + eps)
    if fam in ("SUMP", "SUMN", "SUMD", "VSUMP", "VSUMN", "VSUMD"):
        ds = [(ck - cp) if fam[0] == "S" else (vk - vp) for ck, cp, vk, vp in steps]
        gain = sum((max(x, Fraction(0)) for x in ds), Fraction(0))
        loss = sum((max(-x, Fraction(0)) for x in ds), Fraction(0))
        num = {"P": gain, "N": loss, "D": gain - loss}[fam[-1]]
        return float(num / (sum((abs(x) for x in ds), Fraction(0)) + eps))
    if fam == "CORR":
        return _corr(cw, [Fraction(math.log(float(x) + 1)) for x in vw])
    if fam == "CORD":
        xs = [ck / cp for ck, cp, _, _ in steps]
        return _corr(xs, [Fraction(math.log(float(vk / vp) + 1)) for _, _, vk, vp in steps])
    return None


def arbitrate(
    ours: Any, qlib: Any, prices: Any, rows: list[dict[str, Any]], floor: float, top: int = 3
) -> list[dict[str, Any]]:
    """For each feature over 1e-6: its ``top`` worst rows with m002's, Qlib's and the exact
    value, and which of the two is nearer the exact one."""
    import polars as pl

    indexed = prices.with_row_index("_i")
    out = []
    for row in rows:
        if (row["max_rel_diff"] or 0) <= 1e-6:
            continue
        name = row["feature"]
        fam = family(name)
        if fam == name:  # a k-bar or price feature: no window to recompute
            continue
        d = int(name[len(fam) :])
        joined = (
            ours.select("ticker", "date", name)
            .join(qlib.select("ticker", "date", pl.col(name).alias("_q")), on=["ticker", "date"])
            .join(indexed.select("ticker", "date", "_i"), on=["ticker", "date"])
            .filter(pl.col(name).is_not_null() & pl.col("_q").is_finite())
            .with_columns(rel=(pl.col(name) - pl.col("_q")).abs() / pl.col("_q").abs().clip(floor))
            .sort("rel", descending=True)
            .head(top)
        )
        for r in joined.iter_rows(named=True):
            window = indexed.slice(r["_i"] - d, d + 1)
            exact = exact_value(fam, d, {k: window[k].to_list() for k in ("close", "volume")})
            nearer = None
            if exact is not None:
                nearer = "m002" if abs(r[name] - exact) <= abs(r["_q"] - exact) else "qlib"
            out.append(
                {
                    "feature": name,
                    "ticker": r["ticker"],
                    "date": str(r["date"]),
                    "m002": r[name],
                    "qlib": r["_q"],
                    "exact": exact,
                    "nearer": nearer,
                }
            )
    return out


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.12e}"


def family(name: str) -> str:
    """``ROC`` for ``ROC5`` ... ``ROC60``; the k-bar and price features are their own family."""
    stem = re.sub(r"\d+$", "", name)
    return stem if name.endswith(("5", "10", "20", "30", "60")) else name


def print_table(rows: list[dict[str, Any]]) -> None:
    families: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        families.setdefault(family(row["feature"]), []).append(row)
    head = "| family | features | rows compared | max rel. diff | max abs. diff |"
    print(head + " m002 null, Qlib value |")
    print("|---|---|---|---|---|---|")
    for fam, members in families.items():
        diffs = [r["max_rel_diff"] for r in members if r["max_rel_diff"] is not None]
        worst = max(diffs) if diffs else float("nan")
        compared = sum(r["compared"] for r in members)
        missing = sum(r["m002_null_qlib_value"] for r in members)
        absd = max((r["max_abs_diff"] for r in members if r["max_abs_diff"] is not None), default=0)
        print(f"| {fam} | {len(members)} | {compared} | {worst:.1e} | {absd:.1e} | {missing} |")


def fixture_prices() -> Any:
    """Three synthetic tickers of 120 rows, prices in whole cents (so that highs, lows and closes
    tie, as real prices do) and one ticker with a stretch of equal closes (a flat window)."""
    import polars as pl

    from m002.data import generate_synthetic

    prices = generate_synthetic(n_tickers=3, n_days=120, seed=7).prices
    prices = prices.lazy().collect() if not isinstance(prices, pl.DataFrame) else prices
    prices = prices.with_columns(pl.col("open", "high", "low", "close").round(2))
    row = pl.int_range(pl.len()).over("ticker")
    flat = (pl.col("ticker") == pl.col("ticker").min()) & row.is_between(70, 79)
    level = pl.col("close").filter(row == 69).first().over("ticker")
    return prices.sort("ticker", "date").with_columns(
        pl.when(flat).then(level).otherwise(pl.col(c)).alias(c)
        for c in ("open", "high", "low", "close")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", nargs="+", default=TICKERS)
    parser.add_argument("--qlib-python", default=QLIB_PYTHON)
    parser.add_argument("--float32", action="store_true", help="Qlib's leaves as float32")
    parser.add_argument("--floor", type=float, default=1e-8)
    parser.add_argument("--write-fixture", type=Path, default=None)
    parser.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        qlib_child(*args.child, float32=args.float32)
        return

    import polars as pl

    from m002.data import load_silver
    from m002.features import add_features, feature_names

    names = feature_names("alpha158")
    if args.write_fixture is not None:
        prices = fixture_prices()
        qlib, version = run_qlib(prices, args.qlib_python, float32=False)
        # Qlib's values where m002's are defined (after each feature's warm-up); the rest null
        ours = add_features(prices, "alpha158").collect()
        defined = ours.select("ticker", "date", *(pl.col(n).is_not_null().alias(n) for n in names))
        qlib = qlib.join(defined, on=["ticker", "date"], suffix="_ok").select(
            "ticker", "date", *(pl.when(pl.col(f"{n}_ok")).then(pl.col(n)).alias(n) for n in names)
        )
        fixture = prices.join(qlib, on=["ticker", "date"])
        args.write_fixture.parent.mkdir(parents=True, exist_ok=True)
        fixture.write_parquet(args.write_fixture, compression="zstd", compression_level=19)
        rows = compare(ours, qlib, names, args.floor)
        print_table(rows)
        print(
            json.dumps(
                {"fixture": str(args.write_fixture), "rows": fixture.height, "qlib": version}
            )
        )
        return

    if not SAMPLE.is_dir():
        print(json.dumps({"skipped": f"{SAMPLE} is absent"}))
        return
    prices = load_silver(SAMPLE, tickers=args.tickers).collect()
    qlib, version = run_qlib(prices, args.qlib_python, float32=args.float32)
    ours = add_features(prices, "alpha158").collect()
    rows = compare(ours, qlib, names, args.floor)
    print_table(rows)
    worst = sorted(rows, key=lambda r: -(r["max_rel_diff"] or 0))[:10]
    # Qlib's float32 leaves are other inputs than m002's: nothing to arbitrate then
    checked = [] if args.float32 else arbitrate(ours, qlib, prices, rows, args.floor)
    print("\nrows over 1e-6 against exact rational arithmetic (top 3 per feature):")
    for r in checked:
        print(
            f"  {r['feature']:7} {r['ticker']:5} {r['date']}  m002 {r['m002']:+.12e}  "
            f"qlib {r['qlib']:+.12e}  exact {_fmt(r['exact'])}  nearer: {r['nearer']}"
        )
    print(
        json.dumps(
            {
                "benchmark": "alpha158_qlib",
                "qlib": version,
                "leaves": "float32" if args.float32 else "float64",
                "tickers": args.tickers,
                "rows": prices.height,
                "polars": pl.__version__,
                "floor": args.floor,
                "worst": worst,
                "arbitrated": checked,
                "m002_nearer_exact": sum(r["nearer"] == "m002" for r in checked),
                "qlib_nearer_exact": sum(r["nearer"] == "qlib" for r in checked),
                "features_over_1e-6": [
                    r["feature"] for r in rows if (r["max_rel_diff"] or 0) > 1e-6
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
