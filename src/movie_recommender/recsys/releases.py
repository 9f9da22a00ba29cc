"""The MovieLens releases this project reads, and a user's own ratings in the ``ml-latest`` layout.

One :class:`Release` per official archive: the folder inside its zip, its format family, its
rating scale and what GroupLens publishes about it. Pure data (no Kedro, no I/O).

Format families:

- ``ml100k``: tab-separated ``u.data``, latin-1 ``u.item`` with genre flags, ``u.genre``, folds.
- ``dat``: ``::``-separated ``ratings.dat`` and ``movies.dat`` (ML-1M: latin-1 titles, whole stars;
  ML-10M in folder ``ml-10M100K/``: half stars).
- ``csv``: ``ratings.csv`` and ``movies.csv`` with a header, UTF-8, quoted titles (ML-20M, 25M,
  32M, latest, latest-small; also a user's own data, whose column names and scale are configurable).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from movie_recommender.errors import UserError

BASE_URL = "https://files.grouplens.org/datasets/movielens"
DEFAULT_DATASET = "ml-100k"
#: The columns of a ratings file in the ml-latest layout, by their role.
CSV_COLUMNS = {"user": "userId", "movie": "movieId", "rating": "rating", "timestamp": "timestamp"}
MOVIE_CSV_COLUMNS = {"movie": "movieId", "title": "title", "genres": "genres"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Release:
    """One MovieLens release (or a user's own dataset) and how to read it.

    ``scale`` is ``(lowest, highest, step)``: every rating must be ``lowest + k * step`` within
    ``[lowest, highest]``; ``step`` None accepts any number in the range. ``md5`` is the official
    archive's checksum where GroupLens states it in its documentation; ``None`` means "verify
    against the ``<archive>.md5`` file published beside it" (official releases) or "no checksum"
    (custom datasets). ``size`` is the download size and ``shape`` the (ratings, users, movies)
    of the official data, for messages and the README.
    """

    name: str
    family: str  # "ml100k" | "dat" | "csv"
    folder: str  # the folder inside the official zip
    scale: tuple[float, float, float | None]
    md5: str | None = None
    shape: tuple[int, int, int] | None = None
    size: str = ""
    custom: bool = False
    path: str | None = None  # custom datasets: where the files are
    columns: Mapping[str, str] = field(default_factory=lambda: dict(CSV_COLUMNS))
    movie_columns: Mapping[str, str] = field(default_factory=lambda: dict(MOVIE_CSV_COLUMNS))
    separator: str = ","
    movies_optional: bool = False
    #: md5 of the official member files, so that a re-pack of them is recognised (100k).
    member_md5: Mapping[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """How messages name it: MovieLens 100k, MovieLens 1M, ..., custom dataset mine."""
        if self.custom:
            return f"custom dataset {self.name}"
        tail = self.name.removeprefix("ml-")
        return f"MovieLens {tail.upper() if tail.endswith('m') else tail}"

    @property
    def url(self) -> str:
        return f"{BASE_URL}/{self.name}.zip"

    @property
    def encoding(self) -> str:
        """Text encoding of the movie titles: latin-1 for 100k and 1M, UTF-8 from 20M on (10M: see readers)."""
        return "latin-1" if self.name in ("ml-100k", "ml-1m") else "utf-8"

    @property
    def source_env(self) -> str:
        """The environment variable that points at a local copy: MOVIELENS_100K, MOVIELENS_25M, ..."""
        return "MOVIELENS_" + re.sub(r"[^A-Z0-9]+", "_", self.name.removeprefix("ml-").upper())

    @property
    def files(self) -> tuple[str, ...]:
        """The member files the readers need."""
        if self.family == "ml100k":
            return ("u.data", "u.item", "u.genre")
        extension = "dat" if self.family == "dat" else "csv"
        return (f"ratings.{extension}",) if self.movies_optional else (f"ratings.{extension}", f"movies.{extension}")

    @property
    def has_folds(self) -> bool:
        return self.family == "ml100k"


HALF_STARS = (0.5, 5.0, 0.5)
WHOLE_STARS = (1.0, 5.0, 1.0)

RELEASES: dict[str, Release] = {
    release.name: release
    for release in (
        Release(
            "ml-100k",
            "ml100k",
            "ml-100k",
            WHOLE_STARS,
            "0e33842e24a9c977be4e0107933c0723",
            (100_000, 943, 1_682),
            "4.9 MB",
            member_md5={
                "u.data": "6e47046882bad158b0efbb84cd5cb987",
                "u.item": "c9e7f390115d79079537301d5204f3f7",
                "u.user": "1b53539edc13caad0282c8500608a319",
                "u.genre": "a7578bdb37758741ae9429d2c736af18",
            },
        ),
        Release(
            "ml-1m", "dat", "ml-1m", WHOLE_STARS, "c4d9eecfca2ab87c1945afe126590906", (1_000_209, 6_040, 3_706), "5.9 MB"
        ),
        Release(
            "ml-10m",
            "dat",
            "ml-10M100K",
            HALF_STARS,
            "ce571fd55effeba0271552578f2648bd",
            (10_000_054, 69_878, 10_677),
            "63 MB",
        ),
        Release(
            "ml-20m",
            "csv",
            "ml-20m",
            HALF_STARS,
            "cd245b17a1ae2cc31bb14903e1204af3",
            (20_000_263, 138_493, 26_744),
            "190 MB",
        ),
        Release(
            "ml-25m",
            "csv",
            "ml-25m",
            HALF_STARS,
            "6b51fb2759a8657d3bfcbfc42b592ada",
            (25_000_095, 162_541, 59_047),
            "250 MB",
        ),
        Release("ml-32m", "csv", "ml-32m", HALF_STARS, None, (32_000_204, 200_948, 84_432), "239 MB"),
        Release("ml-latest-small", "csv", "ml-latest-small", HALF_STARS, None, (100_836, 610, 9_724), "1 MB"),
        # ml-latest changes over time; the shape is that of the 2023 snapshot (movies: in movies.csv).
        Release("ml-latest", "csv", "ml-latest", HALF_STARS, None, (33_832_162, 330_975, 86_537), "335 MB"),
    )
}


class UnknownDatasetError(UserError):
    """The ``dataset`` parameter names neither a MovieLens release nor a configured custom dataset."""


def _custom_release(name: str, spec: object) -> Release:
    where = f"custom_datasets.{name} in conf/local/globals.yml"
    if spec is None:
        spec = {}
    if not isinstance(spec, Mapping):
        raise UnknownDatasetError(f"{where} must be a mapping of settings (path, columns, rating_scale), got {spec!r}.")
    allowed = {"path", "columns", "movie_columns", "rating_scale", "separator"}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise UnknownDatasetError(f"{where} has unknown setting(s) {unknown}; allowed: {sorted(allowed)}.")
    columns = {**CSV_COLUMNS, **dict(spec.get("columns") or {})}
    movie_columns = {**MOVIE_CSV_COLUMNS, **dict(spec.get("movie_columns") or {})}
    for label, given, roles in (("columns", columns, CSV_COLUMNS), ("movie_columns", movie_columns, MOVIE_CSV_COLUMNS)):
        extra = sorted(set(given) - set(roles))
        if extra:
            raise UnknownDatasetError(f"{where}: {label} has unknown role(s) {extra}; roles are {sorted(roles)}.")
        if any(value is not None and (not isinstance(value, str) or not value) for value in given.values()):
            raise UnknownDatasetError(f"{where}: {label} must map roles to column names, got {dict(given)!r}.")
    for role in ("user", "movie", "rating"):
        if not columns.get(role):
            raise UnknownDatasetError(f"{where}: columns.{role} must name a column of ratings.csv.")
    scale = spec.get("rating_scale", [0.5, 5.0, 0.5])
    ok = isinstance(scale, list | tuple) and len(scale) in (2, 3)
    numbers = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in scale[:2])
    step = scale[2] if ok and len(scale) == 3 else None
    if (
        not numbers
        or scale[0] >= scale[1]
        or (step is not None and (isinstance(step, bool) or not isinstance(step, int | float) or step <= 0))
    ):
        raise UnknownDatasetError(
            f"{where}: rating_scale must be [lowest, highest] or [lowest, highest, step] with lowest < highest "
            f"and step > 0, e.g. [1, 10, 1] or [0.5, 5, 0.5]; got {scale!r}."
        )
    separator = spec.get("separator", ",")
    if not isinstance(separator, str) or len(separator) != 1:
        raise UnknownDatasetError(f"{where}: separator must be one character such as ',' or ';', got {separator!r}.")
    return Release(
        name,
        "csv",
        name,
        (float(scale[0]), float(scale[1]), None if step is None else float(step)),
        custom=True,
        path=spec.get("path"),
        columns=columns,
        movie_columns=movie_columns,
        separator=separator,
        movies_optional=True,
    )


def known_datasets(custom: Mapping[str, object] | None = None) -> list[str]:
    """Every name the ``dataset`` parameter accepts: the releases, then the configured custom datasets."""
    return [*RELEASES, *sorted(custom or {})]


def get_release(name: object, custom: Mapping[str, object] | None = None) -> Release:
    """The release ``name`` (a MovieLens release or a custom dataset from ``custom``), with its settings checked.

    ``custom`` maps a user's dataset names to their settings (``path``, ``columns``,
    ``movie_columns``, ``rating_scale``, ``separator``); the name ``custom`` is always accepted and
    reads ``data/01_raw/custom/`` with the ml-latest defaults.
    """
    custom = dict(custom or {})
    if isinstance(name, str) and name in RELEASES:
        if name in custom:
            raise UnknownDatasetError(
                f"custom_datasets.{name} in conf/local/globals.yml takes the name of a MovieLens release; "
                "choose another name for your dataset."
            )
        return RELEASES[name]
    if isinstance(name, str) and (name in custom or name == "custom") and _NAME.match(name):
        return _custom_release(name, custom.get(name))
    if isinstance(name, str) and name in custom:
        raise UnknownDatasetError(
            f"custom dataset name {name!r} may hold only letters, digits, '.', '_' and '-' (it names folders)."
        )
    raise UnknownDatasetError(
        f"Parameter dataset must be one of {', '.join(known_datasets(custom))} or custom, got {name!r}. "
        "Pick a release, e.g. kedro run --params dataset=ml-1m, or describe your own ratings under "
        "custom_datasets in conf/local/globals.yml (see README, Your own ratings)."
    )


def with_path(release: Release, path: str | None) -> Release:
    return replace(release, path=path)
