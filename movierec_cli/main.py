"""`movierec`: the one command line for every job."""
from __future__ import annotations

import typer

from movierec_cli import data_cmd, kafka_cmd, offline_cmd

app = typer.Typer(help="Event-driven streaming movie recommender.", no_args_is_help=True)
app.add_typer(data_cmd.app, name="data", help="Synthetic data and data checks.")
app.add_typer(offline_cmd.app, name="offline", help="Offline ALS pipeline.")
app.add_typer(kafka_cmd.app, name="kafka", help="A local Apache Kafka broker (KRaft) from Maven jars.")


if __name__ == "__main__":  # pragma: no cover
    app()
