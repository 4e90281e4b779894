"""The generative model behind :mod:`offline.data.synth` (see its docstring for the story).

``make_world`` draws everything per movie and per user once (seeded); ``chunk_ratings``
draws one chunk of users' ratings from its own seeded generator, so memory stays
bounded by the chunk.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

# ML-20M genre counts (movies per genre), a stand-in for genre frequency.
GENRE_WEIGHTS: dict[str, int] = {
    "Drama": 13344, "Comedy": 8374, "Thriller": 4178, "Romance": 4127, "Action": 3520,
    "Crime": 2939, "Horror": 2611, "Documentary": 2471, "Adventure": 2329, "Sci-Fi": 1743,
    "Mystery": 1514, "Fantasy": 1412, "War": 1194, "Children": 1139, "Musical": 1036,
    "Animation": 1027, "Western": 676, "Film-Noir": 330, "IMAX": 196,
}
NO_GENRES = "(no genres listed)"
RANK = 8
MIN_USER_RATINGS = 20
TARGET_MEAN = 3.53  # ML-20M's mean rating; the global offset is calibrated to reach it
PILOT_USERS = 2048
NOISE_STD = 0.7
TASTE_STD = 0.8
CHOICE_TILT = 0.5  # weight of taste, against Gumbel(0, 1) noise, when choosing what to watch
POPULARITY_EXPONENT = 2.5
POPULARITY_OFFSET = 0.01  # of the catalogue size, at least 10
USER_CAP = 0.35  # most ratings one user may have, as a share of the catalogue
BEGIN, END = 820_454_400, 1_609_459_199  # 1996-01-01 .. 2020-12-31 (UTC)
_ADJ = ("Dark", "Silent", "Last", "Lost", "Golden", "Wild", "Broken", "Hidden", "Final", "Secret",
        "Red", "Little", "Endless", "Crimson", "Quiet", "Burning", "Frozen", "Savage", "Lonely", "Electric")
_NOUN = ("Night", "River", "City", "Heart", "Road", "Kingdom", "Storm", "Garden", "Mirror", "Island",
         "Empire", "Promise", "Shadow", "Winter", "Journey", "Machine", "Detective", "Summer", "Stranger", "Game")


@dataclass(frozen=True, eq=False)
class World:
    """Everything drawn once. Shapes: M movies, U users, k = RANK."""

    movie_ids: npt.NDArray[np.int64]  # (M,) increasing, with gaps like MovieLens
    titles: list[str]  # M titles with "(year)"
    genres: list[str]  # M pipe-separated genre strings
    popularity_cdf: npt.NDArray[np.float64]  # (M,) cumulative choice probability
    movie_factors: npt.NDArray[np.float32]  # (M, k)
    movie_bias: npt.NDArray[np.float32]  # (M,)
    user_factors: npt.NDArray[np.float32]  # (U, k)
    user_bias: npt.NDArray[np.float32]  # (U,)
    whole_stars: npt.NDArray[np.bool_]  # (U,) rounds to whole stars
    user_counts: npt.NDArray[np.int64]  # (U,) ratings per user; sums to n_ratings
    user_start: npt.NDArray[np.int64]  # (U,) unix seconds of the first rating
    user_span: npt.NDArray[np.float64]  # (U,) seconds over which sessions spread
    session_length: npt.NDArray[np.float64]  # (U,) mean ratings per session
    global_mean: float = 3.1  # offset in the rating formula; a first guess until calibrated


def user_counts(rng: np.random.Generator, n_users: int, n_ratings: int, n_movies: int) -> npt.NDArray[np.int64]:
    """Ratings per user, shape (U,): >= min(20, R // U), lognormal tail, capped, summing to R.

    The cap is 35% of the catalogue (ML-20M's heaviest user), or 4x the mean if larger.
    """
    floor_n = min(MIN_USER_RATINGS, n_ratings // max(1, n_users))
    cap = min(n_movies, max(floor_n, int(USER_CAP * n_movies), -(-4 * n_ratings // max(1, n_users))))
    if floor_n < 1 or n_ratings > cap * n_users:
        raise ValueError(f"cannot place {n_ratings} ratings on {n_users} users x {n_movies} movies "
                         f"(each user needs 1..{cap} distinct movies)")
    weight = rng.lognormal(0.0, 1.3, n_users)
    counts = np.full(n_users, floor_n, dtype=np.int64)
    remaining = n_ratings - floor_n * n_users
    while remaining > 0:
        room = np.flatnonzero(counts < cap)
        add = np.floor(remaining * weight[room] / weight[room].sum()).astype(np.int64)
        add = np.minimum(add, cap - counts[room])
        if add.sum() == 0:  # leftovers: one more each for the heaviest users with room
            add = np.zeros(len(room), dtype=np.int64)
            add[np.argsort(-weight[room], kind="stable")[:remaining]] = 1
        counts[room] += add
        remaining -= int(add.sum())
    return counts


def _titles(rng: np.random.Generator, years: npt.NDArray[np.int64]) -> list[str]:
    """MovieLens-style titles: some with a trailing article, some with commas, all with a year."""
    m = len(years)
    form = rng.choice(5, size=m, p=[0.55, 0.15, 0.12, 0.10, 0.08])
    adj = rng.integers(0, len(_ADJ), m)
    noun, noun2 = rng.integers(0, len(_NOUN), m), rng.integers(0, len(_NOUN), m)
    out = []
    for f, a, n, n2, y in zip(form, adj, noun, noun2, years):
        base = (f"{_ADJ[a]} {_NOUN[n]}", f"{_ADJ[a]} {_NOUN[n]}, The", f"{_NOUN[n]} of the {_NOUN[n2]}",
                f"{_NOUN[n]}, {_NOUN[n2]} and Me", f"{_ADJ[a]} {_NOUN[n]} {2 + n2 % 3}")[f]
        out.append(f"{base} ({y})")
    return out


def make_world(n_users: int, n_movies: int, n_ratings: int, seed: int) -> World:
    """Draw movies, users, tastes and activity; see :mod:`offline.data.synth`."""
    rng = np.random.default_rng([seed, 0])
    names = list(GENRE_WEIGHTS)
    g = len(names)
    movie_ids = np.cumsum(rng.geometric(0.75, n_movies)).astype(np.int64)
    # 1-3 genres by frequency, without replacement (Gumbel top-k); 1% with none.
    n_genres = rng.choice([1, 2, 3], size=n_movies, p=[0.45, 0.35, 0.20])
    n_genres[rng.random(n_movies) < 0.01] = 0
    keys = np.log(np.array(list(GENRE_WEIGHTS.values()), dtype=np.float64)) + rng.gumbel(size=(n_movies, g))
    top = np.argsort(-keys, axis=1)[:, :3]
    multi_hot = np.zeros((n_movies, g), dtype=np.float32)
    rows, slots = np.nonzero(np.arange(3)[None, :] < n_genres[:, None])
    multi_hot[rows, top[rows, slots]] = 1.0
    genres = ["|".join(names[j] for j in sorted(top[i, : n_genres[i]], key=lambda j: names[j])) or NO_GENRES
              for i in range(n_movies)]
    years = np.minimum(2020, 1920 + np.floor(101 * rng.beta(4.0, 1.4, n_movies))).astype(np.int64)

    # Zipf-like popularity over a random order of the movies.
    weight = np.empty(n_movies, dtype=np.float64)
    offset = max(10.0, n_movies * POPULARITY_OFFSET)
    weight[rng.permutation(n_movies)] = (np.arange(n_movies) + offset) ** -POPULARITY_EXPONENT
    cdf = np.cumsum(weight / weight.sum())
    cdf[-1] = 1.0

    # Taste: movie factors tied to genres, user factors tied to genre taste.
    embed = rng.normal(size=(g, RANK))
    genre_part = multi_hot @ embed / np.sqrt(np.maximum(1, n_genres))[:, None]
    movie_factors = genre_part + 0.6 * rng.normal(size=(n_movies, RANK))
    user_factors = rng.normal(size=(n_users, g)) @ embed / np.sqrt(g) + 0.6 * rng.normal(size=(n_users, RANK))
    pairs = rng.integers(0, [n_users, n_movies], size=(min(200_000, n_users * n_movies), 2))
    scale = TASTE_STD / np.std(np.einsum("ij,ij->i", user_factors[pairs[:, 0]], movie_factors[pairs[:, 1]]))
    log_pop = np.log(weight)
    movie_bias = rng.normal(0.0, 0.3, n_movies) + 0.15 * (log_pop - log_pop.mean()) / (log_pop.std() + 1e-9)

    span = np.clip(rng.lognormal(np.log(90 * 86_400), 1.5, n_users), 86_400, 15 * 365 * 86_400)
    world = World(
        movie_ids=movie_ids, titles=_titles(rng, years), genres=genres, popularity_cdf=cdf,
        movie_factors=movie_factors.astype(np.float32), movie_bias=movie_bias.astype(np.float32),
        user_factors=(user_factors * scale).astype(np.float32),
        user_bias=rng.normal(0.0, 0.35, n_users).astype(np.float32),
        whole_stars=rng.random(n_users) < 0.4,
        user_counts=user_counts(rng, n_users, n_ratings, n_movies),
        user_start=(BEGIN + (END - BEGIN) * rng.beta(1.3, 1.0, n_users)).astype(np.int64),
        user_span=span, session_length=np.clip(rng.lognormal(np.log(15), 0.8, n_users), 3, 200),
    )
    return _calibrate(world, seed)


def _calibrate(world: World, seed: int) -> World:
    """Shift ``global_mean`` so a pilot's mean rating is TARGET_MEAN (two Newton-like steps).

    Choosing liked and popular (higher-bias) movies raises the mean by an amount that
    depends on the sizes; one pilot chunk of the first users (own seed) measures it.
    """
    n, counts = min(len(world.user_counts), PILOT_USERS), world.user_counts
    for step in range(2):  # clipping at 0.5 and 5 makes the response slightly nonlinear
        users, _, half_stars, _ = chunk_ratings(world, 0, n, np.random.default_rng([seed, 2, step]))
        # The pilot's few heavy users weigh a lot; swap their bias for the population's.
        bias_gap = float(world.user_bias[users].mean()) - float(counts @ world.user_bias) / counts.sum()
        pilot_mean = float(half_stars.mean()) / 2 - bias_gap
        world = replace(world, global_mean=world.global_mean + TARGET_MEAN - pilot_mean)
    return world


def write_movies(world: World, path: Path) -> None:
    """``movieId,title,genres`` CSV, UTF-8, quoted only where needed (like ml-latest)."""
    with path.open("w", encoding="utf-8", newline="") as sink:
        writer = csv.writer(sink, lineterminator="\n")
        writer.writerow(["movieId", "title", "genres"])
        writer.writerows(zip(world.movie_ids.tolist(), world.titles, world.genres))


def _sorted_unique(keys: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Sorted distinct values (sort + neighbour compare; faster than np.unique's hashing here)."""
    keys.sort()
    distinct = np.ones(len(keys), dtype=bool)
    distinct[1:] = keys[1:] != keys[:-1]
    return keys[distinct]


def _light_choice(
    world: World, lo: int, need: npt.NDArray[np.int64], rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Sorted keys ``local_user * M + movie``, exactly need[u] distinct movies per user.

    Candidates come from popularity with replacement (oversampled, topped up until each
    user has enough distinct ones); each user keeps the need[u] with the highest
    ``CHOICE_TILT * taste + Gumbel``, i.e. roughly chooses with probability p_j e^(tilt taste).
    """
    m = len(world.movie_ids)
    keys = np.empty(0, dtype=np.int64)
    deficit, factor = need.copy(), 1.5
    for _ in range(16):
        short = np.flatnonzero(deficit > 0)
        if not len(short):
            break
        users = np.repeat(short, np.ceil(deficit[short] * factor).astype(np.int64) + 4)
        movies = np.minimum(np.searchsorted(world.popularity_cdf, rng.random(len(users)), side="right"), m - 1)
        keys = _sorted_unique(np.concatenate([keys, users * m + movies]))
        deficit = need - np.bincount(keys // m, minlength=len(need))
        factor *= 2
    for u in np.flatnonzero(deficit > 0):  # practically unreachable; exact fallback
        free = np.setdiff1d(np.arange(m), keys[keys // m == u] % m)
        keys = np.union1d(keys, u * m + rng.choice(free, int(deficit[u]), replace=False))
    local, movie = keys // m, keys % m
    taste = np.einsum("ij,ij->i", world.user_factors[lo + local], world.movie_factors[movie])
    # One float sort key: user, then score descending (|score| < 50 after the clip).
    order = np.argsort(local * 100.0 - np.clip(CHOICE_TILT * taste + rng.gumbel(size=len(keys)), -49.0, 49.0))
    have = np.bincount(local, minlength=len(need))
    rank = np.arange(len(keys)) - (np.cumsum(have) - have)[local[order]]
    return np.sort(keys[order[rank < need[local[order]]]])


def _heavy_choice(world: World, lo: int, heavy: npt.NDArray[np.int64], need: npt.NDArray[np.int64],
                  rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Keys for heavy users (local ids ``heavy``): exact sampling without replacement.

    Gumbel top-k over the whole catalogue: the need[u] largest ``log p_j + CHOICE_TILT *
    taste_uj + Gumbel`` (Efraimidis-Spirakis), so a user with thousands of ratings still
    goes down the popularity order instead of spreading uniformly over the tail.
    """
    m = len(world.movie_ids)
    log_p = np.log(np.diff(world.popularity_cdf, prepend=0.0).clip(1e-300))
    parts = []
    for block in np.array_split(heavy, max(1, -(-len(heavy) // 32))):
        score = (log_p + CHOICE_TILT * (world.user_factors[lo + block] @ world.movie_factors.T)
                 + rng.gumbel(size=(len(block), m)))
        for row, u in enumerate(block):
            parts.append(u * m + np.argpartition(-score[row], need[u] - 1)[: need[u]])
    return np.concatenate(parts)


def chunk_ratings(world: World, lo: int, hi: int, rng: np.random.Generator) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int8], npt.NDArray[np.int64]
]:
    """Ratings of users lo..hi-1: (user index, movie index, rating in half stars 1-10,
    unix seconds), each of shape (n,), n = user_counts[lo:hi].sum(), sorted by user then movie."""
    m = len(world.movie_ids)
    need = world.user_counts[lo:hi]
    is_heavy = need > max(50, m // 20)
    keys = _light_choice(world, lo, np.where(is_heavy, 0, need), rng)
    if is_heavy.any():
        keys = np.sort(np.concatenate([keys, _heavy_choice(world, lo, np.flatnonzero(is_heavy), need, rng)]))
    local, movie = keys // m, keys % m
    users = lo + local
    taste = np.einsum("ij,ij->i", world.user_factors[users], world.movie_factors[movie])

    score = (world.global_mean + world.user_bias[users] + world.movie_bias[movie] + taste
             + rng.normal(0.0, NOISE_STD, len(users)))
    half = np.where(world.whole_stars[users], 2 * np.rint(score), np.rint(2 * score))
    half_stars = np.clip(half, np.where(world.whole_stars[users], 2, 1), 10).astype(np.int8)

    # Time: rows in a random watch order per user; small gaps within a session, large between.
    n, start = len(users), np.cumsum(need) - need
    watch = np.argsort(local + rng.random(n))  # by user, random within user
    p_new = 1.0 / world.session_length[users]
    between = world.user_span[users] / (1.0 + need[local] * p_new)
    gap = np.where(rng.random(n) < p_new, rng.exponential(1.0, n) * between, 5.0 + rng.exponential(40.0, n))
    gap[start[need > 0]] = 0.0  # positions are in watch order; each user's first is at its start
    elapsed = np.cumsum(gap)
    elapsed -= elapsed[start][local]
    total = elapsed[start + need - 1]
    begin = np.minimum(world.user_start[lo:hi], END - total)
    stretch = np.where(begin < BEGIN, (END - BEGIN) / np.maximum(total, 1.0), 1.0)
    begin = np.maximum(begin, BEGIN)
    ts = np.empty(n, dtype=np.int64)
    ts[watch] = (begin[local] + elapsed * stretch[local]).astype(np.int64)
    return users.astype(np.int64), movie.astype(np.int64), half_stars, ts
