"""The online core: how one swipe changes a user's vector and list (pure numpy/scipy).

The lowest layer: ``online`` -> ``schemas`` -> ``offline`` (training, the serving
``Recommender``) -> ``stream_app`` (the Kafka worker) -> ``replay`` -> ``movierec_cli``, each
importing only the ones before it (``tests/test_layers.py``). All of them import this core,
it imports none of them, so the worker, the replay, the demo and the tests run the same
rules. Modules:

* ``preference``: buckets to signed preferences, and their confidences;
* ``state``: ``UserState``, one user's bounded online state (versioned bytes);
* ``foldin`` / ``additive`` / ``recency``: the vector update rules' math;
* ``overlay``: the item-neighbour score overlay and per-user standardisation;
* ``additions``: the overlay's additions to a batch's scores, applied after the product;
* ``settings``: ``OnlineSettings``, the one typed configuration of the rules;
* ``rules``: the ``UpdateRule`` protocol and the registry of named strategies;
* ``kernels``: numba-compiled twins of the one-user recency solve and overlay (a lone
  swipe's list in two calls instead of ~25 numpy calls), loaded by ``compiled`` on first use.

Only ``settings`` imports pydantic and only ``kernels`` numba (``compiled`` falls back to the
numpy code without it); everything else imports numpy and scipy alone.
"""
