"""Loading MovieLens-shaped data.

Column contract used everywhere downstream (snake_case, whatever the source layout):

ratings: ``user_id`` int64, ``movie_id`` int64, ``rating`` float32, ``timestamp`` int64 (unix seconds)
movies:  ``movie_id`` int64, ``title`` str (raw, with year), ``genres`` str (pipe-separated;
         "(no genres listed)" when none)
"""
