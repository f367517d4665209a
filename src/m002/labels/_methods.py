"""Layer-1 labels by `RegimeLabelConfig.method`: the columns a method reads, and the labels of
the rows one model is fitted on.

The priority rules need no fit and label any rows alike; the HMM labeller is fitted, so the
labels a model trains on come from a labeller fitted on exactly that model's rows (DESIGN
rule 3: a fitted transform sees fit rows only). `label_fit_rows` is the one place that
chooses between the two, so that every model of the pipeline is labelled the same way.
"""

from __future__ import annotations

import polars as pl

from m002._polars import collect
from m002._schema import DATE, TICKER
from m002.labels._hmm import fitted_labeller
from m002.labels._regime import RegimeLabelConfig, assign_regime_labels, required_columns

__all__ = ["label_fit_rows", "label_inputs"]


def label_inputs(config: RegimeLabelConfig) -> tuple[str, ...]:
    """The columns the labels of ``config.method`` read.

    Parameters
    ----------
    config : RegimeLabelConfig

    Returns
    -------
    tuple of str
        ``"priority"``: `required_columns` (ticker, date, close and the m002 features of the
        five conditions); ``"hmm"``: ticker, date and the labeller's two inputs
        (``hmm_return_feature``, ``hmm_volatility_feature``).

    Examples
    --------
    >>> label_inputs(RegimeLabelConfig(method="hmm"))
    ('ticker', 'date', 'log_ret_1', 'volatility_20')
    """
    if config.method == "priority":
        return required_columns()
    return (TICKER, DATE, *fitted_labeller(config).feature_columns)


def label_fit_rows(frame: pl.DataFrame | pl.LazyFrame, config: RegimeLabelConfig) -> pl.LazyFrame:
    """Regime labels of the rows one model is fitted on, from those rows alone.

    ``"priority"``: `assign_regime_labels` (nothing is fitted). ``"hmm"``: an `HMMLabeller`
    fitted on ``frame`` and assigned to it, so that no other row shapes the states. Either
    way the same rows and config give the same labels, bit for bit (the HMM's fit is seeded
    by ``hmm_seed`` and reads the rows sorted by ticker and date).

    Parameters
    ----------
    frame : pl.DataFrame or pl.LazyFrame
        The fit rows, with the columns of `label_inputs` (other columns pass through).
    config : RegimeLabelConfig

    Returns
    -------
    pl.LazyFrame
        The rows sorted by (ticker, date) with the label columns (``regime_state``,
        ``regime_state_id``, ``regime_label_lookahead``, ``regime_label_known``).

    Raises
    ------
    SchemaError
        If a column of `label_inputs` is missing.
    DataValidationError
        ``"hmm"``: if the rows are too few to fit the HMM (`HMMLabeller.fit`).
    """
    if config.method == "priority":
        return assign_regime_labels(frame, config)
    rows = collect(frame.lazy())
    return fitted_labeller(config).fit(rows).assign(rows)
