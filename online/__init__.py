"""The online core: how one swipe changes a user's vector and list (pure numpy/scipy).

Below both ``offline`` (training, replay, the serving ``Recommender``) and ``stream_app``
(the Kafka worker): both import it, it imports neither, so the worker, the replay, the demo
and the tests run the same rules. Modules:

* ``preference``: confidences of signed preferences;
* ``state``: ``UserState``, one user's bounded online state (versioned bytes);
* ``foldin`` / ``additive`` / ``recency``: the vector update rules' math;
* ``overlay``: the item-neighbour score overlay and per-user standardisation;
* ``settings``: ``OnlineSettings``, the one typed configuration of the rules;
* ``rules``: the ``UpdateRule`` protocol and the registry of named strategies.

Only ``settings`` imports pydantic; everything else imports numpy and scipy alone.
"""
