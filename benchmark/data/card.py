"""Dataset cards: one declarative YAML file per dataset in the top-level ``datasets/`` folder.

A card says where a dataset's files come from (official URLs and archives, a checksum per file),
how to load it (a key into :data:`benchmark.data.loaders.LOADERS` and its arguments), what the
task, target, metric and split protocol are, and which statistics the loaded data must show.
Adding a dataset in a format PyG or OGB already reads means adding a card, no code.

The folder is ``<repo>/datasets``; set ``KDBENCH_CARDS`` to read cards from another folder.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from benchmark.errors import KdbenchError, unknown_name

CARDS_ENV = "KDBENCH_CARDS"
DATASETS_HINT = "See `kdbench datasets`."


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSpec(_Strict):
    """One file of a dataset, relative to the card's ``path``.

    ``sha256`` pins the bytes the card expects (the mirror holds exactly these); ``None`` means
    not pinned (any content is accepted and the loaded statistics check it). ``url`` is an
    official URL serving the file directly; ``exact`` says whether it serves exactly the pinned
    bytes (if not, e.g. a converted mirror form, the download is accepted unhashed and verified
    through the card's ``stats``).
    """

    path: str
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    url: str | None = None
    exact: bool = True


class ArchiveSpec(_Strict):
    """An official archive that holds some of the card's files.

    ``zip``/``tar``: the member ``member_prefix + rest`` becomes the card file ``target + rest``
    (e.g. TU's ``MUTAG.zip``: ``MUTAG/MUTAG_A.txt`` → ``raw/MUTAG_A.txt`` with
    ``member_prefix: MUTAG/`` and ``target: raw/``); the archive provides every card file under
    ``target``. ``gz``: one compressed file that becomes the card file ``target``.
    ``exact: false`` marks an archive whose members differ in bytes from the pinned form (the
    TU-format originals of a set the mirror holds as a conversion): its files are accepted
    unhashed and verified through the loaded statistics.
    """

    url: str
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    kind: Literal["zip", "gz", "tar"]
    member_prefix: str = ""
    target: str = ""
    exact: bool = True

    def provides(self, file_path: str) -> bool:
        """Whether this archive holds the card file ``file_path``."""
        if self.kind == "gz":
            return file_path == self.target
        return file_path.startswith(self.target)

    def member(self, file_path: str) -> str:
        """The archive member that becomes ``file_path`` (gz: the decompressed file's name)."""
        if self.kind == "gz":
            return self.url.rsplit("/", 1)[-1].removesuffix(".gz")
        return self.member_prefix + file_path[len(self.target) :]


class Stats(_Strict):
    """Expected statistics of the loaded data, after the card's transforms; ``None`` = unchecked.

    ``num_nodes``/``num_edges`` are totals over all graphs for graph tasks; edges count
    ``edge_index`` columns (both directions of an undirected edge). ``num_classes`` applies to
    ``multiclass`` targets, ``num_tasks`` to ``multilabel``/``regression``.
    """

    num_graphs: int | None = None
    num_nodes: int | None = None
    num_edges: int | None = None
    num_features: int | None = None
    num_classes: int | None = None
    num_tasks: int | None = None


Transform = str | dict[str, dict[str, Any]]


class DatasetCard(_Strict):
    """Everything kdbench knows about one dataset.

    - ``name``: how runs and sweeps call it ("Cora", "ogbg-molbace", "Cora-CPF").
    - ``task``: ``node`` or ``graph`` (what a split indexes); ``family``: the leaderboard
      table it belongs to (``node``, ``graph``, ``molecular``).
    - ``loader`` and ``loader_args``: a key of ``benchmark.data.loaders.LOADERS`` and its
      arguments (e.g. ``{name: Cora}``).
    - ``path``: the dataset folder relative to the data root and to the mirror
      (``TUDataset/MUTAG``); ``files``: every file the loader reads, relative to ``path``;
      ``archives``: official archives holding some of them.
    - ``transforms``: applied in order after loading, each a name or ``{name: {args}}``
      (keys of ``benchmark.data.loaders.TRANSFORMS``).
    - ``target``: ``multiclass`` ([n] class ids), ``multilabel`` or ``regression`` ([n, T]
      float, NaN = missing), ``none`` (unlabeled corpus); ``metric``: ``accuracy``,
      ``rocauc``, ``rmse``, ``mae`` or ``none``; ``ogb_name``: set for OGB datasets, whose
      metric is computed by OGB's Evaluator.
    - ``protocol`` and ``protocol_args``: a key of ``benchmark.data.splits.SPLITS``.
    - ``stats``: what the loaded data must show; ``reference``: what to cite;
      ``mirrored``: whether the shared mirror holds the files (then all are pinned);
      ``notes``: provenance caveats (conversions, derived files).
    """

    name: str
    task: Literal["node", "graph"]
    family: Literal["node", "graph", "molecular"]
    description: str
    loader: str
    loader_args: dict[str, Any] = Field(default_factory=dict)
    path: str
    files: list[FileSpec]
    archives: list[ArchiveSpec] = Field(default_factory=list)
    transforms: list[Transform] = Field(default_factory=list)
    target: Literal["multiclass", "multilabel", "regression", "none"]
    metric: Literal["accuracy", "rocauc", "rmse", "mae", "none"]
    ogb_name: str | None = None
    protocol: str  # a key of benchmark.data.splits.SPLITS (checked by the tests)
    protocol_args: dict[str, Any] = Field(default_factory=dict)
    stats: Stats = Field(default_factory=Stats)
    reference: str
    mirrored: bool
    notes: str = ""

    @field_validator("transforms")
    @classmethod
    def _one_key_per_transform(cls, value: list[Transform]) -> list[Transform]:
        for t in value:
            if isinstance(t, dict) and len(t) != 1:
                raise ValueError(f"a transform is a name or {{name: {{args}}}}, got {t!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DatasetCard:
        paths = [f.path for f in self.files]
        if len(set(paths)) != len(paths):
            raise ValueError("files: a path is listed twice")
        if not self.files:
            raise ValueError("files: list at least one file")
        if self.mirrored and any(f.sha256 is None for f in self.files):
            raise ValueError("mirrored: true needs a sha256 for every file")
        if (self.target == "none") != (self.metric == "none"):
            raise ValueError("target and metric must both be 'none' (unlabeled) or neither")
        return self

    @property
    def transform_specs(self) -> list[tuple[str, dict[str, Any]]]:
        """The transforms as ``(name, args)`` pairs, in order."""
        out: list[tuple[str, dict[str, Any]]] = []
        for t in self.transforms:
            if isinstance(t, str):
                out.append((t, {}))
            else:
                ((name, args),) = t.items()
                out.append((name, dict(args or {})))
        return out


def cards_dir() -> Path:
    """The folder of cards: ``$KDBENCH_CARDS`` or ``<repo>/datasets``."""
    env = os.environ.get(CARDS_ENV)
    if env:
        return Path(env).expanduser()
    import benchmark

    return Path(benchmark.__file__).resolve().parents[1] / "datasets"


def parse_card(file: Path) -> DatasetCard:
    """Read and validate one card; any problem raises one line naming the file and the key."""
    try:
        raw = yaml.safe_load(file.read_text())
    except yaml.YAMLError as e:
        raise KdbenchError(f"dataset card {file}: not valid YAML ({e})".replace("\n", " ")) from e
    if not isinstance(raw, dict):
        raise KdbenchError(f"dataset card {file}: expected a mapping of fields at the top")
    try:
        return DatasetCard.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(card)'}: {err['msg']}"
            for err in e.errors()
        )
        raise KdbenchError(f"dataset card {file}: {problems}") from None


@functools.lru_cache(maxsize=4)
def _load_dir(folder: str) -> dict[str, DatasetCard]:
    path = Path(folder)
    if not path.is_dir():
        raise KdbenchError(
            f"no dataset cards at {path}; set {CARDS_ENV} to the folder of *.yaml cards."
        )
    cards: dict[str, DatasetCard] = {}
    origin: dict[str, Path] = {}
    for file in sorted(path.glob("*.yaml")):
        card = parse_card(file)
        if card.name in cards:
            raise KdbenchError(
                f"dataset '{card.name}' is defined twice: {origin[card.name]} and {file}; "
                "rename or delete one."
            )
        cards[card.name] = card
        origin[card.name] = file
    return cards


def load_catalogue(folder: Path | None = None) -> dict[str, DatasetCard]:
    """All cards by name (cached per folder); a duplicate name or a bad card raises."""
    return dict(_load_dir(str(folder or cards_dir())))


def get_card(name: str) -> DatasetCard:
    """The card called ``name``; unknown names raise with a did-you-mean."""
    cards = load_catalogue()
    if name not in cards:
        raise unknown_name("dataset", name, cards, DATASETS_HINT)
    return cards[name]


def catalogue_rows(data_root: Path | None = None, mirror: str | None = None) -> list[dict]:
    """One row per card for the ``kdbench datasets`` table.

    Keys: ``name``, ``task``, ``family``, ``size`` ("188 graphs" / "2708 nodes"), ``classes``
    (classes or tasks), ``metric``, ``protocol`` and ``available``: ``"data root"`` (every file
    is under the data root), ``"mirror"`` (in the mirror), ``"download"`` (an official source
    is known for every missing file) or ``"no"``.
    """
    from benchmark.data.fetch import availability, default_data_root, default_mirror

    root = data_root or default_data_root()
    mirror = mirror if mirror is not None else default_mirror()
    rows = []
    for name, card in sorted(load_catalogue().items(), key=lambda kv: kv[0].lower()):
        s = card.stats
        if card.task == "graph":
            size = f"{s.num_graphs} graphs" if s.num_graphs is not None else "?"
        else:
            size = f"{s.num_nodes} nodes" if s.num_nodes is not None else "?"
        if card.target == "multiclass":
            classes = str(s.num_classes) if s.num_classes is not None else "?"
        elif card.target == "none":
            classes = "-"
        else:
            classes = f"{s.num_tasks} tasks" if s.num_tasks is not None else "?"
        rows.append(
            {
                "name": name,
                "task": card.task,
                "family": card.family,
                "size": size,
                "classes": classes,
                "metric": card.metric,
                "protocol": card.protocol,
                "available": availability(card, root, mirror),
            }
        )
    return rows
