"""The bare-faust floor of bench/stream.py: a faust agent that does nothing but one RocksDB
table write per swipe (raw bytes in, the value stored under the message key), on the same
broker with the worker's producer settings (acks=all, the given linger). Not the worker:
no parsing, no model, no lists. Started by bench/stream.py as

    python bench/faust_floor.py worker -l warning

with FLOOR_* environment variables (topic, app id, data dir, web port, linger, partitions).
``GET /count`` answers how many swipes the agent has written.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

# bench/offline.py would shadow the `offline` package when this folder is sys.path[0]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import faust  # noqa: E402

env = os.environ
partitions = int(env["FLOOR_PARTITIONS"])
app = faust.App(env["FLOOR_APP_ID"], broker=f"kafka://{env['FLOOR_BOOTSTRAP']}", store="rocksdb://",
                datadir=env["FLOOR_DATA_DIR"], topic_partitions=partitions, web_port=int(env["FLOOR_WEB_PORT"]),
                web_host="127.0.0.1", producer_acks=-1, producer_linger=float(env["FLOOR_LINGER"]),
                consumer_auto_offset_reset="earliest")
topic = app.topic(env["FLOOR_TOPIC"], key_type=bytes, value_type=bytes, key_serializer="raw",
                  value_serializer="raw", partitions=partitions)
table = app.Table("floor-states", key_type=bytes, value_type=bytes, partitions=partitions, default=None)
count = 0


@app.agent(topic)
async def write(stream: faust.StreamT) -> None:
    global count
    async for event in stream.events():
        table[event.key] = event.value
        count += 1


@app.page("/count")
async def get_count(web: faust.web.Web, request: faust.web.Request) -> faust.web.Response:
    return web.json({"count": count})


if __name__ == "__main__":
    app.main()
