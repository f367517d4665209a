"""The `m002` command group every command module registers on."""

from __future__ import annotations

import click

from m002 import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="m002")
def main() -> None:
    """m002: daily OHLCV -> regime probabilities -> multi-task head -> LONG/SHORT/FLAT.

    \b
    Start here:
      m002 demo                         synthetic data -> features -> summary
      m002 data synth --out DIR         write a synthetic universe to DIR
      m002 data check PATH              validate a folder or file of daily prices
      m002 features PATH --out F.parquet  build a feature set
      m002 labels PATH                  regime label distribution, overall and per year
    """
