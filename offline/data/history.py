"""The swipe history on disk: what ``movierec sink`` writes and retraining reads.

Layout (hive partitioning by the UTC date of ``occurred_at``)::

    OUT/date=YYYY-MM-DD/part-<topic>-<partition>-<first_offset>-<last_offset>.parquet

Columns (:data:`SCHEMA`): ``user_id`` int64, ``movie_id`` int64, ``rating`` float32,
``preference`` int8 (signed, -2..+2), ``timestamp`` int64 (unix seconds of ``occurred_at``),
``event_id`` string. The swipe's bucket 1-4 becomes a representative rating
(:data:`RATING_OF_BUCKET`) that ``offline.preference.rating_to_bucket`` maps back to the same
bucket, so the offline pipeline derives the same preference from the history as the stream did.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

RATING_OF_BUCKET: dict[int, float] = {1: 1.5, 2: 2.5, 3: 4.0, 4: 5.0}
"""Swipe bucket -> representative rating; ``rating_to_bucket`` maps each back to its bucket."""
SCHEMA = pa.schema([("user_id", pa.int64()), ("movie_id", pa.int64()), ("rating", pa.float32()),
                    ("preference", pa.int8()), ("timestamp", pa.int64()), ("event_id", pa.string())])


def read_history(out_dir: Path) -> pd.DataFrame:
    """Every swipe under ``out_dir``, one row per ``event_id`` (a replay writes identical copies),
    ordered by ``timestamp`` then ``event_id``.

    Returns the :data:`SCHEMA` columns; an empty frame of those dtypes when there is none.
    """
    files = sorted(Path(out_dir).glob("date=*/part-*.parquet"))
    if not files:
        return SCHEMA.empty_table().to_pandas()
    frame = pd.concat([pq.read_table(f, schema=SCHEMA).to_pandas() for f in files], ignore_index=True)
    frame = frame.drop_duplicates("event_id", keep="last")
    order = np.lexsort((frame["event_id"].to_numpy(), frame["timestamp"].to_numpy()))
    return frame.iloc[order].reset_index(drop=True)
