"""Replay evaluation: play a held-out split as swipes and score the lists prequentially.

``movierec replay`` (``movierec_cli/replay_cmd.py``) is the front end. Pieces:

* ``events``: the split as a time-ordered swipe sequence;
* ``prequential``: ranks → hit/ndcg/mrr bookkeeping (pure);
* ``local`` / ``kafka_replay``: play the events in-process through ``process_batch`` or
  through the real broker and worker;
* ``params``: the online settings shared with the worker; ``retrain``: the batch reference;
* ``run``: every strategy over one split; ``tune``: search the update rules on val;
* ``report``: JSON, Markdown and PNG output.
"""
from replay.events import HISTORY_BEFORE, ReplayEvents, events_from_table, split_events
from replay.local import DirectStep, PlayResult, PopularityStep, WorkerStep, initial_lists, play_local
from replay.params import ALL_STRATEGIES, WORKER_STRATEGIES, build_recommender, worker_defaults, with_knobs
from replay.prequential import PrequentialAccumulator, prequential_metrics, ranks_in_lists
from replay.run import ReplayConfig, ReplayOutcome, Replayer, StrategyOutcome

__all__ = [
    "ALL_STRATEGIES", "HISTORY_BEFORE", "WORKER_STRATEGIES", "DirectStep", "PlayResult",
    "PopularityStep", "PrequentialAccumulator", "ReplayConfig", "ReplayEvents", "ReplayOutcome", "Replayer",
    "StrategyOutcome", "WorkerStep", "build_recommender", "events_from_table", "initial_lists", "play_local",
    "prequential_metrics", "ranks_in_lists", "split_events", "with_knobs", "worker_defaults",
]
