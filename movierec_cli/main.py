"""`movierec`: the one command line for every job."""
from __future__ import annotations

import typer

from movierec_cli import (
    ab_cmd,
    app_cmd,
    data_cmd,
    demo_cmd,
    kafka_cmd,
    models_cmd,
    offline_cmd,
    replay_cmd,
    retrain_cmd,
    schemas_cmd,
    sink_cmd,
    stream_cmd,
    tune_cmd,
)

app = typer.Typer(help="Event-driven streaming movie recommender.", no_args_is_help=True)
app.add_typer(data_cmd.app, name="data", help="Synthetic data and data checks.")
app.add_typer(offline_cmd.app, name="offline", help="Offline ALS pipeline.")
app.add_typer(kafka_cmd.app, name="kafka", help="A local Apache Kafka broker (KRaft) from Maven jars.")
app.add_typer(stream_cmd.app, name="stream", help="The stream worker; send swipes, read lists.")
app.add_typer(schemas_cmd.app, name="schemas", help="Event contracts (JSON Schema export/check).")
app.add_typer(models_cmd.app, name="models", help="Model versions: champion/challenger aliases, promote, roll back.")
app.add_typer(replay_cmd.app, name="replay", help="Replay evaluation: stream-updated vs static model; `replay tune`.")
app.add_typer(ab_cmd.app, name="ab", help="Online A/B report: hit rate per variant, z-test.")
app.command("tune")(tune_cmd.tune)
app.command("retrain")(retrain_cmd.retrain)
app.command("sink")(sink_cmd.sink)
app.command("swipe")(stream_cmd.swipe)
app.command("recs")(stream_cmd.recs)
app.command("demo")(demo_cmd.demo)
app.command("app")(app_cmd.serve)


if __name__ == "__main__":  # pragma: no cover
    app()
