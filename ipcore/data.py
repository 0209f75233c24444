"""Datasets for the networks: whole datasets as device-resident tensors (inputs flattened, scaled to [0, 1]).

Every dataset is one ``DatasetSpec`` in ``DATASETS`` (at the end of this module): its name, description, source,
the files it expects, how to get it, where its files are and how it loads. The loader, the configs' validation,
the CLI (``train --list-datasets``, the help), the app's pickers and help texts all read that table. Names:
``mnist``, ``fashion-mnist``, ``cifar10`` (through torchvision, downloaded when the network allows),
``imagefolder:PATH`` (any class-per-folder image tree, torchvision's ImageFolder layout), ``folder:NAME`` (an image
folder the operator offers), and two built-in synthetic tasks that need no files: ``clusters`` (Gaussian
clusters, ``clusters:D`` for D input dimensions) and ``spirals`` (two interleaved spirals in 2-D). torch is
imported when data are loaded, not with this module (configs validate dataset names without it).

The data root is the ``root`` argument (``--data-root``), else the environment variable ``IPCORE_DATA``, else
``~/.cache/ipcore`` (``ipcore.locations``: the one rule of the CLI, the app and Python). Decoded image folders are cached as uint8 ``.npz`` files (never pickle) beside the data
when that folder is writable, else under the cache dir (``IPCORE_CACHE``, default ``~/.cache/ipcore``) keyed
by the folder's absolute path, so a second load takes seconds. Setting ``IPCORE_OFFLINE=1`` forbids downloads.

Damaged data never becomes a traceback or a silently smaller dataset: an MNIST / Fashion-MNIST IDX file that is
empty, truncated, over-long or not IDX, or a labels file whose count differs from its images file, and an image
file that does not decode are ConfigErrors on ``dataset`` naming the file; a dataset of one class loads with a
``DatasetWarning`` (nothing to learn).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import math
import os
import re
import sys
import threading
import warnings
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ipcore.errors import ConfigError, IpcoreWarning
from ipcore.locations import cache_dir, data_root  # the one rule of the CLI, the app and Python

if TYPE_CHECKING:
    import torch

IMAGE_FOLDERS_ENV = "IPCORE_IMAGE_FOLDERS"
"""The operator's named image folders, ``name=/path`` entries separated by ``os.pathsep`` (``:`` on Linux)."""
FOLDER_NAME_CHARS = re.compile(r"[A-Za-z0-9_.-]{1,64}")
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
CLUSTERS_DEFAULT_DIM, CLUSTERS_MAX_DIM = 20, 4096
HOLDOUT_FRACTION = 1 / 6
"""Share of an image folder without ``train``/``test`` subfolders held out (deterministically) for testing."""

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CIFAR10_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")


class DatasetUnavailable(ConfigError):
    """A dataset that is neither on disk nor downloadable here. The message says where it was looked for,
    which files are expected and how to get them."""

    def __init__(self, message: str):
        super().__init__("dataset", message)


class DatasetWarning(IpcoreWarning):
    """A dataset that loads but cannot teach anything (one class only); the CLI prints it as ``warning: …``."""


@dataclass
class Dataset:
    """A whole dataset: ``train_x``/``test_x`` ``[N, D]`` float32 in [0, 1], labels ``[N]`` int64.

    ``train_bytes``: on a CPU, for data stored as bytes (MNIST, Fashion-MNIST, image folders), the same training
    inputs as uint8 ``[N, D]``, with train_x = train_bytes / ``byte_scale`` exactly. A training gathers its batches
    from them (a quarter of the memory to read for each random row) and converts each batch, so ``train_x`` is
    then made only when something reads it, and kept: a CPU training never does, which saves the conversion at
    start-up (0.07 s for MNIST) and the float copy's memory (188 MB for MNIST, 614 MB for CIFAR-10). Otherwise
    ``stored_train_x`` holds it."""

    name: str
    description: str
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]
    shape: tuple[int, ...]  # one sample's shape before flattening (C, H, W) or (D,)
    source: str = ""  # where it was read from
    extra: dict[str, Any] = field(default_factory=dict)
    train_bytes: torch.Tensor | None = None
    byte_scale: float = 1.0
    stored_train_x: torch.Tensor | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.stored_train_x is None and self.train_bytes is None:
            raise ValueError("a Dataset needs its training inputs: stored_train_x or train_bytes")

    @property
    def train_x(self) -> torch.Tensor:
        """The training inputs as float32 ``[N, D]`` (from ``train_bytes`` on first use where there are some)."""
        if self.stored_train_x is None:
            self.stored_train_x = bytes_to_float(self.train_bytes, self.byte_scale)
        return self.stored_train_x

    def first(self, count: int) -> Dataset:
        """The dataset with only its first ``count`` training samples (the test set whole)."""
        bytes_kept = None if self.train_bytes is None else self.train_bytes[:count]
        floats_kept = None if self.stored_train_x is None else self.stored_train_x[:count]
        return replace(self, stored_train_x=floats_kept, train_y=self.train_y[:count], train_bytes=bytes_kept)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_dim(self) -> int:
        inputs = self.train_bytes if self.stored_train_x is None else self.stored_train_x
        return int(inputs.shape[1])


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset, said once (``DATASETS``). ``description`` and ``sizes`` describe it; ``source`` says where it
    comes from; ``files`` what the loader expects on disk and ``how`` how to get it (``ROOT`` stands for the data
    root); ``locate(root)`` finds its files, ``(folder, note)`` or None (None as ``locate``: it needs no files);
    ``load(name, root, downloads allowed)`` returns its raw arrays. ``argument`` is what may follow ``name:``
    (``D`` in ``clusters:D``), checked by ``check_argument``; ``argument_required``: the name alone is not a
    dataset. ``browser``: the app's pickers may offer it (a server path never is). ``classes``: its number of
    classes where the name fixes it (None for folders of images)."""

    name: str
    description: str
    source: str
    load: Callable[[str, Path, bool], dict[str, Any]]
    files: str = ""
    how: str = "built in"
    sizes: str = ""
    locate: Callable[[Path], tuple[Path, str] | None] | None = None
    argument: str = ""
    argument_required: bool = False
    check_argument: Callable[[str, str], None] | None = None
    browser: bool = True
    classes: int | None = None

    @property
    def pattern(self) -> str:
        """The name as help texts write it: ``mnist``, ``clusters[:D]``, ``imagefolder:PATH``."""
        if not self.argument:
            return self.name
        return f"{self.name}:{self.argument}" if self.argument_required else f"{self.name}[:{self.argument}]"

    def how_to_get(self, root: Path | str) -> str:
        return self.how.replace("ROOT", str(root))


# --- names and folders --------------------------------------------------------------------------------


def image_folders() -> dict[str, Path]:
    """The image folders the server's operator offers by name: ``$IPCORE_IMAGE_FOLDERS``, e.g.
    ``faces=/data/faces:birds=/srv/birds`` (entries separated by ``os.pathsep``). A browser picks one as
    ``folder:NAME`` and never sees or sends its path. A malformed entry is a ConfigError on the variable."""
    folders: dict[str, Path] = {}
    for entry in (e.strip() for e in os.environ.get(IMAGE_FOLDERS_ENV, "").split(os.pathsep)):
        if not entry:
            continue
        name, sep, path = entry.partition("=")
        name = name.strip()
        if not sep or not path.strip() or not FOLDER_NAME_CHARS.fullmatch(name):
            raise ConfigError(
                IMAGE_FOLDERS_ENV,
                f"entries must be name=/path with a name of letters, digits, '_', '.', '-' (got {entry!r})",
            )
        folders[name] = Path(path.strip()).expanduser()
    return folders


def folder_path(name: str, field_name: str = "dataset") -> Path:
    """The path behind ``folder:NAME`` (a ConfigError naming the offered folders when NAME is not one)."""
    offered = image_folders()
    key = name[len("folder:") :].strip() if name.startswith("folder:") else name
    if key not in offered:
        choices = ", ".join(f"folder:{n}" for n in offered) or f"none (the operator sets {IMAGE_FOLDERS_ENV})"
        raise ConfigError(field_name, f"unknown image folder {key!r}; offered: {choices}")
    return offered[key]


def check_dataset_name(name: str, field_name: str = "dataset") -> None:
    """A ConfigError unless ``name`` is a known dataset (the image folder itself is checked when loading)."""
    base, sep, argument = name.partition(":")
    spec = DATASETS.get(base)
    if spec is None or (sep and not spec.argument):
        allowed = ", ".join(spec.pattern for spec in DATASETS.values())
        raise ConfigError(field_name, f"unknown dataset {name!r}; allowed: {allowed}")
    if sep and spec.check_argument is not None:
        spec.check_argument(name, field_name)


def dataset_help(browser_only: bool = False) -> str:
    """The dataset names for help texts: ``mnist, fashion-mnist, …, clusters[:D], …`` (only what a browser may
    choose with ``browser_only``)."""
    return ", ".join(s.pattern for s in DATASETS.values() if s.browser or not browser_only)


def browser_datasets() -> list[str]:
    """The datasets a browser may pick by name, besides the operator's ``folder:NAME`` folders."""
    return [s.name for s in DATASETS.values() if s.browser and not s.argument_required]


def _check_clusters(name: str, field_name: str) -> None:
    dim = name.split(":", 1)[1]
    if not dim.isdigit() or not 1 <= int(dim) <= CLUSTERS_MAX_DIM:
        raise ConfigError(field_name, f"clusters:D needs an integer D from 1 to {CLUSTERS_MAX_DIM} (got {dim!r})")


def _check_imagefolder(name: str, field_name: str) -> None:
    if not name[len("imagefolder:") :].strip():
        raise ConfigError(field_name, "imagefolder needs a path: imagefolder:PATH")


def _check_folder(name: str, field_name: str) -> None:
    folder_path(name, field_name)


def downloads_allowed() -> bool:
    return os.environ.get("IPCORE_OFFLINE", "").strip().lower() not in ("1", "true", "yes", "on")


def _fashion_folder(root: Path) -> Path | None:
    """Fashion-MNIST IDX files: torchvision's layout under the root, else Debian's package."""
    raw = root / "FashionMNIST" / "raw"
    if all((raw / f).is_file() for f in MNIST_FILES):
        return raw
    if all((DEBIAN_FASHION_MNIST / f"{f}.gz").is_file() for f in MNIST_FILES):
        return DEBIAN_FASHION_MNIST
    return None


def _cifar_location(root: Path) -> tuple[str, Path] | None:
    if all((root / "cifar-10-batches-py" / f).is_file() for f in CIFAR10_FILES):
        return "pickle-batches", root / "cifar-10-batches-py"
    jpg = root / "cifar10-jpg"
    if (jpg / "train").is_dir() and (jpg / "test").is_dir():
        return "jpeg-folder", jpg
    return None


def available_datasets(root: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Every dataset with ``available`` (usable here without a download), ``location``, ``description``
    and ``how`` (how to get it when missing)."""
    base = data_root(root)
    out: list[dict[str, Any]] = []
    for spec in DATASETS.values():
        if spec.name == "folder":  # one entry per folder the operator offers, below
            continue
        found = spec.locate(base) if spec.locate is not None else None
        description = f"{spec.description}, {spec.sizes}" if spec.sizes else spec.description
        if found is not None and found[1]:
            description += f" ({found[1]})"
        out.append(
            {
                "name": spec.pattern if spec.argument_required else spec.name,
                "description": description,
                "available": spec.locate is None or found is not None,
                "location": str(found[0]) if found is not None else None,
                "how": spec.how_to_get(base),
            }
        )
    for folder_name, path in image_folders().items():
        out.append(
            {
                "name": f"folder:{folder_name}",
                "description": f"image folder {folder_name!r}, offered by this server's operator "
                "(class sub-folders of images; train/ and test/ when present, else a fixed 1/6 held out)",
                "available": path.is_dir(),
                "location": None,  # the operator's path is not shown to browsers
                "how": DATASETS["folder"].how,
            }
        )
    return out


# --- loading ------------------------------------------------------------------------------------------

_memory_lock = threading.Lock()
_memory_cache: dict[tuple, dict[str, Any]] = {}
"""The raw uint8 arrays of recently loaded datasets (the gallery trains many times on the same data)."""
_MEMORY_ENTRIES = 2


def load_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    subset: int = 0,
    device: torch.device | str = "cpu",
    download: bool | None = None,
) -> Dataset:
    """Load a dataset whole onto ``device``: inputs flattened, float32 in [0, 1]; labels int64.

    ``subset`` > 0 keeps the first ``subset`` training samples (the test set stays whole). ``download``:
    None → allowed unless ``IPCORE_OFFLINE`` is set. Raises ``DatasetUnavailable`` (a ConfigError on field
    ``dataset``) when the data are neither here nor downloadable, and ConfigError for an unreadable folder.
    """
    import torch

    check_dataset_name(name)
    base = data_root(root)
    allow = downloads_allowed() if download is None else download
    if name.startswith("folder:"):
        key = (name, str(folder_path(name).resolve()))
    else:
        key = (name, str(base.resolve()) if not name.startswith(("clusters", "spirals")) else "")
    with _memory_lock:
        raw = _memory_cache.get(key)
    if raw is None:
        raw = _load_raw(name, base, allow)
        with _memory_lock:
            _memory_cache[key] = raw
            while len(_memory_cache) > _MEMORY_ENTRIES:
                _memory_cache.pop(next(iter(_memory_cache)))

    if len(raw["classes"]) < 2:
        warnings.warn(
            f"{name} has only one class ({', '.join(map(str, raw['classes']))}): every label is the same, so there "
            "is nothing to learn (any network scores 100 %); an image folder needs one sub-folder per class",
            DatasetWarning,
            stacklevel=2,
        )
    train_x, train_y = raw["train_x"], raw["train_y"]
    if subset and subset > 0:
        train_x, train_y = train_x[:subset], train_y[:subset]
    train_bytes = None
    if torch.device(device).type == "cpu" and train_x.dtype == np.uint8:
        train_bytes = torch.from_numpy(np.ascontiguousarray(train_x.reshape(len(train_x), -1)))
    return Dataset(
        name=name,
        description=raw["description"],
        stored_train_x=None if train_bytes is not None else _to_device_float(train_x, raw["scale"], device),
        train_y=torch.as_tensor(np.asarray(train_y, dtype=np.int64), device=device),
        test_x=_to_device_float(raw["test_x"], raw["scale"], device),
        test_y=torch.as_tensor(np.asarray(raw["test_y"], dtype=np.int64), device=device),
        classes=list(raw["classes"]),
        shape=tuple(raw["shape"]),
        source=raw["source"],
        train_bytes=train_bytes,
        byte_scale=float(raw["scale"]),
    )


def _to_device_float(x: np.ndarray, scale: float, device: torch.device | str) -> torch.Tensor:
    """``[N, ...]`` array → ``[N, D]`` float32 on ``device`` (uint8 is moved first, then converted there)."""
    import torch

    return bytes_to_float(torch.from_numpy(np.ascontiguousarray(x.reshape(len(x), -1))).to(device), scale)


def bytes_to_float(tensor: torch.Tensor, scale: float, out: torch.Tensor | None = None) -> torch.Tensor:
    """x / ``scale`` as float32: the one conversion of stored inputs (``Dataset.train_x``, and each batch a CPU
    training gathers from ``Dataset.train_bytes``, are made by it, so they agree to the bit); ``out``: a float32
    tensor of the same shape to write into."""
    import torch

    tensor = tensor.to(torch.float32) if out is None else out.copy_(tensor)
    return tensor.div_(scale) if scale != 1.0 else tensor


# --- batches ------------------------------------------------------------------------------------------


def epoch_permutations(seeds: list[int], epoch: int, n: int, device: torch.device) -> torch.Tensor:
    """``[S, n]``: the order of the training samples in ``epoch`` (1, 2, …) for each seed, from a CPU
    generator seeded by (seed, epoch), so it is the same on every device and for every rule."""
    import torch

    orders = [
        torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch + 7919)) for seed in seeds
    ]
    return torch.stack(orders).to(device)


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """Every sample once per epoch; the last batch is smaller when ``batch_size`` does not divide ``n``."""
    return math.ceil(n_train / min(batch_size, n_train))


class BatchSampler:
    """Each seed's training batches, one epoch after another: every seed sees every sample once per epoch in its
    own order (``epoch_permutations``), and every rule trained from that seed sees the same batches.

    ``epoch(e)`` yields ``(inputs [S, b, D], targets [S, b])`` per step. The inputs are gathered into the same
    memory every step (a fresh tensor of this size, 6 MB for 10 MNIST seeds, costs page faults and cache misses
    each time), with ``index_select`` (several times faster than advanced indexing here). On a CPU, data stored as
    bytes are gathered as bytes (a quarter of the memory to read for each random row) and converted as
    ``Dataset.train_x`` would be, which is then never made."""

    def __init__(self, data: Dataset, seeds: list[int], batch_size: int, device: torch.device) -> None:
        self.data, self.seeds, self.device = data, seeds, device
        self.n, self.input_dim = len(data.train_y), data.input_dim
        self.batch_size = min(batch_size, self.n)
        self.per_epoch = steps_per_epoch(self.n, self.batch_size)
        self.train_bytes = data.train_bytes if device.type == "cpu" and data.train_bytes is not None else None
        self.train_x = data.train_x if self.train_bytes is None else None
        self._floats: dict[int, torch.Tensor] = {}  # the gathered inputs of a step, [S·b, D], by S·b
        self._bytes: dict[int, torch.Tensor] = {}

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = epoch_permutations(self.seeds, epoch, self.n, self.device)
        for i in range(self.per_epoch):
            yield self.batch(order[:, i * self.batch_size : (i + 1) * self.batch_size])

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The inputs ``[S, b, D]`` and targets ``[S, b]`` of the samples ``index`` ``[S, b]``."""
        import torch

        data, flat = self.data, index.reshape(-1)
        size = len(flat)
        if size not in self._floats:
            self._floats[size] = data.test_x.new_empty(size, self.input_dim)  # the data's float type
        if self.train_bytes is None:
            inputs = torch.index_select(self.train_x, 0, flat, out=self._floats[size])
        else:
            if size not in self._bytes:
                self._bytes[size] = self.train_bytes.new_empty(size, self.train_bytes.shape[1])
            gathered = torch.index_select(self.train_bytes, 0, flat, out=self._bytes[size])
            inputs = bytes_to_float(gathered, data.byte_scale, out=self._floats[size])
        targets = data.train_y.index_select(0, flat).view(len(self.seeds), -1)
        return inputs.view(len(self.seeds), -1, self.input_dim), targets


def _load_raw(name: str, base: Path, allow_download: bool) -> dict[str, Any]:
    return DATASETS[name.partition(":")[0]].load(name, base, allow_download)


def _unavailable(dataset: str, base: Path, searched: list[Path], why: str = "") -> DatasetUnavailable:
    """The one message for a missing dataset: where it was looked for, the files expected, how to get them and how
    to point ipcore at a folder that holds them (the data root's rule, ``ipcore.locations``)."""
    files = DATASETS[dataset].files.replace("ROOT", str(base))
    folders = ", ".join(str(p) for p in searched)
    how = DATASETS[dataset].how_to_get(base)
    reason = f" ({why})" if why else ""
    return DatasetUnavailable(
        f"{dataset} is not available{reason}. Searched: {folders}. Expected files: {files}. To get it: {how}; "
        f"or use a folder that already holds it as the data root (now {base}): --data-root DIR on the command "
        "line, or the environment variable IPCORE_DATA=DIR (the order: --data-root, else $IPCORE_DATA, else "
        "~/.cache/ipcore)."
    )


def download_failure(error: BaseException) -> str:
    """A download error in one line that keeps its cause: torchvision's "Error downloading X:" is followed, on
    lines of its own, by each mirror it tried and what went wrong there; the last of those says why."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    reason = lines[0]
    if reason.endswith(":") and len(lines) > 1:
        reason = f"{reason} {lines[-1]}"
    return f"download failed: {reason}"


def _download(dataset: str, base: Path, make: Any, searched: list[Path]) -> Any:
    """Run a torchvision download (its chatter goes to stderr, never stdout); DatasetUnavailable on failure."""
    try:
        base.mkdir(parents=True, exist_ok=True)
        with contextlib.redirect_stdout(sys.stderr):
            return make()
    except Exception as error:  # network errors come as RuntimeError, URLError, OSError…
        raise _unavailable(dataset, base, searched, download_failure(error)) from None


def _mnist_folder(root: Path) -> tuple[Path, str] | None:
    raw = root / "MNIST" / "raw"
    return (raw, "") if all((raw / f).is_file() for f in MNIST_FILES) else None


def _load_mnist(name: str, base: Path, allow_download: bool) -> dict[str, Any]:
    raw_folder = base / "MNIST" / "raw"
    present = _mnist_folder(base) is not None
    if not present and not allow_download:
        raise _unavailable("mnist", base, [raw_folder], "downloads are off")
    if not present:
        from torchvision.datasets import MNIST  # only to download: importing torchvision takes a second or more

        _download("mnist", base, lambda: MNIST(str(base), train=True, download=True), [raw_folder])
    # Read and check the IDX files ourselves: torchvision's reader trusts them (a labels file shorter than its
    # images file would silently train on the shorter count).
    train_x, train_y, test_x, test_y = _read_mnist_layout("mnist", raw_folder, "")
    return {
        "train_x": train_x[:, None],
        "train_y": train_y,
        "test_x": test_x[:, None],
        "test_y": test_y,
        "classes": [str(c) for c in range(10)],
        "shape": (1, 28, 28),
        "scale": 255.0,
        "description": DATASETS["mnist"].description,
        "source": str(raw_folder),
    }


IDX_UINT8 = 0x08
"""IDX type code of unsigned bytes, the only one MNIST and Fashion-MNIST use."""


def _damaged(dataset: str, path: Path, what: str) -> ConfigError:
    return ConfigError(
        "dataset",
        f"{dataset}: {path} {what}; replace it with an intact copy (or delete the folder's files and allow downloads)",
    )


def _read_idx(path: Path, dataset: str = "fashion-mnist", ndim: int | None = None) -> np.ndarray:
    """An IDX array (LeCun's format: bytes 0, 0, type 0x08 = uint8, ndim, then ndim big-endian int32 sizes, then
    the data), ``.gz`` or not, checked: a missing, empty, truncated, over-long, non-IDX or damaged-gzip file is
    a ConfigError on ``dataset`` naming the file and what is wrong."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise _damaged(dataset, path, "is missing") from None
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError; a cut .gz ends in EOFError
        raise _damaged(dataset, path, f"cannot be read ({type(error).__name__}: {error})") from None
    if not data:
        raise _damaged(dataset, path, "is empty")
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != IDX_UINT8:
        raise _damaged(dataset, path, f"is not an uint8 IDX file (it starts with {data[:4].hex(' ')}, not 00 00 08)")
    dims = data[3]
    if ndim is not None and dims != ndim:
        raise _damaged(dataset, path, f"holds a {dims}-dimensional array where a {ndim}-dimensional one belongs")
    header = 4 + 4 * dims
    if len(data) < header:
        raise _damaged(dataset, path, f"is truncated inside its header ({len(data)} of {header} bytes)")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    expected = math.prod(shape)
    if len(data) - header != expected:
        shape_text = " × ".join(map(str, shape)) + f" = {expected}" if dims > 1 else str(expected)
        problem = "is truncated" if len(data) - header < expected else "has extra bytes after its data"
        raise _damaged(
            dataset,
            path,
            f"{problem}: its header announces {shape_text} bytes of data, it holds {len(data) - header}",
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()  # writable


def _read_mnist_layout(dataset: str, folder: Path, suffix: str) -> tuple[np.ndarray, ...]:
    """The four IDX files of MNIST / Fashion-MNIST (train images, labels, test images, labels), each checked, and
    checked together: 28×28 images, as many labels as images, labels 0–9."""
    arrays = []
    for name in MNIST_FILES:
        arrays.append(_read_idx(folder / f"{name}{suffix}", dataset, 3 if "images" in name else 1))
    for images_index in (0, 2):
        images, labels = arrays[images_index], arrays[images_index + 1]
        images_path = folder / f"{MNIST_FILES[images_index]}{suffix}"
        labels_path = folder / f"{MNIST_FILES[images_index + 1]}{suffix}"
        if images.shape[1:] != (28, 28):
            raise _damaged(dataset, images_path, f"holds {images.shape[1]}×{images.shape[2]} images, not 28×28")
        if len(labels) != len(images):
            raise _damaged(
                dataset, labels_path, f"has {len(labels)} labels but {images_path.name} has {len(images)} images"
            )
        if labels.size and int(labels.max()) > 9:
            raise _damaged(dataset, labels_path, f"holds label {int(labels.max())}; labels must be 0–9")
    return tuple(arrays)


def _load_fashion(name: str, base: Path, allow_download: bool) -> dict[str, Any]:
    from torchvision.datasets import FashionMNIST

    torchvision_raw = base / "FashionMNIST" / "raw"
    folder = _fashion_folder(base)
    if folder is None:
        searched = [torchvision_raw, DEBIAN_FASHION_MNIST]
        if not allow_download:
            raise _unavailable("fashion-mnist", base, searched, "downloads are off")
        _download("fashion-mnist", base, lambda: FashionMNIST(str(base), train=True, download=True), searched)
        folder = torchvision_raw
    suffix = ".gz" if folder == DEBIAN_FASHION_MNIST else ""
    arrays = _read_mnist_layout("fashion-mnist", folder, suffix)
    return {
        "train_x": arrays[0][:, None],
        "train_y": arrays[1],
        "test_x": arrays[2][:, None],
        "test_y": arrays[3],
        "classes": list(FashionMNIST.classes),
        "shape": (1, 28, 28),
        "scale": 255.0,
        "description": DATASETS["fashion-mnist"].description,
        "source": str(folder),
    }


def _load_cifar10(name: str, base: Path, allow_download: bool) -> dict[str, Any]:
    from torchvision.datasets import CIFAR10

    location = _cifar_location(base)
    if location is None:
        searched = [base]
        if not allow_download:
            raise _unavailable("cifar10", base, searched, "downloads are off")
        _download("cifar10", base, lambda: CIFAR10(str(base), train=True, download=True), searched)
        location = ("pickle-batches", base / "cifar-10-batches-py")
    kind, folder = location
    if kind == "jpeg-folder":
        train = load_image_folder(folder / "train")
        test = load_image_folder(folder / "test")
        if train["classes"] != test["classes"]:
            raise ConfigError("dataset", f"{folder}: train and test have different class folders")
        return {
            "train_x": train["images"],
            "train_y": train["labels"],
            "test_x": test["images"],
            "test_y": test["labels"],
            "classes": train["classes"],
            "shape": train["images"].shape[1:],
            "scale": 255.0,
            "description": f"{DATASETS['cifar10'].description} — {CIFAR_JPEG_NOTE}",
            "source": str(folder),
        }
    # torchvision's CIFAR10 reads the python batches (its own format); HWC uint8 → CHW as ToTensor gives.
    train, test = CIFAR10(str(base), train=True), CIFAR10(str(base), train=False)
    return {
        "train_x": train.data.transpose(0, 3, 1, 2),
        "train_y": np.asarray(train.targets),
        "test_x": test.data.transpose(0, 3, 1, 2),
        "test_y": np.asarray(test.targets),
        "classes": list(train.classes),
        "shape": (3, 32, 32),
        "scale": 255.0,
        "description": DATASETS["cifar10"].description,
        "source": str(folder),
    }


# --- image folders ------------------------------------------------------------------------------------


def _scan_folder(folder: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """Class names and (path, class index) of every image, as torchvision's ImageFolder finds them."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

    try:
        classes, class_to_idx = find_classes(str(folder))
        samples = make_dataset(str(folder), class_to_idx, extensions=IMG_EXTENSIONS)
    except (FileNotFoundError, PermissionError, NotADirectoryError) as error:
        raise ConfigError("dataset", f"image folder {folder} is not usable: {error}") from None
    if not samples:
        raise ConfigError("dataset", f"image folder {folder} has no images in class sub-folders")
    return classes, samples


def _fingerprint(folder: Path, samples: list[tuple[str, int]]) -> str:
    """Changes whenever an image is added, removed, renamed, resized or touched."""
    digest = hashlib.sha1()
    for path, label in samples:
        stat = os.stat(path)
        digest.update(f"{os.path.relpath(path, folder)}\t{label}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _cache_paths(folder: Path) -> list[Path]:
    """Where a folder's decoded cache may live: beside the data, then the cache dir keyed by the path."""
    absolute = str(folder.resolve())
    keyed = hashlib.sha1(absolute.encode()).hexdigest()[:16]
    return [folder / ".ipcore-decoded.npz", cache_dir() / "imagefolder" / f"{folder.name}-{keyed}.npz"]


def _writable(folder: Path) -> bool:
    """Whether we may add a file to ``folder``: it must have a write permission bit set, not only be writable
    to us (root can write into a folder marked read-only, like a shared dataset copy, but must not)."""
    try:
        return bool(folder.stat().st_mode & 0o222) and os.access(folder, os.W_OK)
    except OSError:
        return False


def _decode_all(paths: list[str], folder: Path | None = None) -> np.ndarray:
    """Decode images to one uint8 ``[N, C, H, W]`` array. Mode and size come from the first image: grey ('L')
    if it is grey, else RGB; images of another size are resized to it (bilinear). A file that is not a whole
    image (not an image at all, truncated, corrupt, too large to be safe) is a ConfigError on ``dataset``
    naming it relative to ``folder``."""
    from PIL import Image

    def unreadable(path: str, error: BaseException) -> ConfigError:
        where = os.path.relpath(path, folder) if folder is not None else path
        why = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        inside = f" in image folder {folder}" if folder is not None else ""
        return ConfigError("dataset", f"{where}{inside} cannot be read as an image ({why}); remove or replace it")

    def opened(path: str) -> Any:
        try:
            image = Image.open(path)
        except Exception as error:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError …
            raise unreadable(path, error) from None
        try:
            image.load()  # decodes now, so a truncated file fails here rather than half-way through
        except Exception as error:
            image.close()
            raise unreadable(path, error) from None
        return image

    with opened(paths[0]) as first:
        mode = "L" if first.mode in ("1", "L", "I", "I;16", "F") else "RGB"
        size = first.size

    def decode(path: str) -> np.ndarray:
        with opened(path) as image:
            try:
                image = image.convert(mode)
                if image.size != size:
                    image = image.resize(size, Image.BILINEAR)
                return np.asarray(image, dtype=np.uint8)
            except Exception as error:
                raise unreadable(path, error) from None

    with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
        arrays = list(pool.map(decode, paths, chunksize=256))
    stacked = np.stack(arrays)
    return stacked[:, None] if stacked.ndim == 3 else stacked.transpose(0, 3, 1, 2)


def load_image_folder(folder: Path) -> dict[str, Any]:
    """A class-per-folder image tree decoded to ``images`` uint8 ``[N, C, H, W]``, ``labels`` ``[N]`` and
    ``classes``; served from the ``.npz`` cache when the folder has not changed since it was written."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError("dataset", f"image folder {folder} does not exist or is not a folder")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise ConfigError("dataset", f"image folder {folder} is not readable")
    classes, samples = _scan_folder(folder)
    fingerprint = _fingerprint(folder, samples)
    for path in _cache_paths(folder):
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as cached:
                    if str(cached["fingerprint"]) == fingerprint:
                        return {
                            "images": cached["images"],
                            "labels": cached["labels"].astype(np.int64),
                            "classes": [str(c) for c in cached["classes"]],
                            "cache": str(path),
                        }
            except (OSError, ValueError, KeyError):
                pass  # unreadable or old cache: decode again
    images = _decode_all([p for p, _ in samples], folder=folder)
    labels = np.array([label for _, label in samples], dtype=np.int64)
    written = None
    for path in _cache_paths(folder):
        if path.parent == folder and not _writable(folder):
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp.npz")
            np.savez(temporary, images=images, labels=labels, classes=np.array(classes), fingerprint=fingerprint)
            os.replace(temporary, path)
            written = str(path)
            break
        except OSError:
            with contextlib.suppress(OSError, UnboundLocalError):
                temporary.unlink()
            continue
    return {"images": images, "labels": labels, "classes": classes, "cache": written}


def _load_imagefolder_dataset(folder: Path, label: str | None = None) -> dict[str, Any]:
    """``label`` (``folder:NAME``) replaces the path in the description of an operator's folder."""
    if not folder.is_dir():
        raise ConfigError("dataset", f"image folder {label or folder} does not exist or is not a folder")
    if (folder / "train").is_dir() and (folder / "test").is_dir():
        train, test = load_image_folder(folder / "train"), load_image_folder(folder / "test")
        if train["classes"] != test["classes"]:
            raise ConfigError("dataset", f"{folder}: train/ and test/ have different class folders")
        if train["images"].shape[1:] != test["images"].shape[1:]:
            raise ConfigError("dataset", f"{folder}: train/ and test/ images differ in size or colour")
        train_x, train_y, test_x, test_y = train["images"], train["labels"], test["images"], test["labels"]
        classes, split = train["classes"], "train/ and test/"
    else:
        whole = load_image_folder(folder)
        n = len(whole["labels"])
        if n < 2:
            raise ConfigError("dataset", f"image folder {folder} needs at least 2 images to hold some out")
        import torch

        order = torch.randperm(n, generator=torch.Generator().manual_seed(0)).numpy()
        n_test = max(1, int(math.ceil(n * HOLDOUT_FRACTION)))
        test_index, train_index = np.sort(order[:n_test]), np.sort(order[n_test:])
        train_x, train_y = whole["images"][train_index], whole["labels"][train_index]
        test_x, test_y = whole["images"][test_index], whole["labels"][test_index]
        classes, split = whole["classes"], f"a fixed {HOLDOUT_FRACTION:.0%} holdout"
    channels, height, width = train_x.shape[1:]
    return {
        "train_x": train_x,
        "train_y": train_y,
        "test_x": test_x,
        "test_y": test_y,
        "classes": classes,
        "shape": (channels, height, width),
        "scale": 255.0,
        "description": f"image folder {label or folder}: {channels}×{height}×{width}, {len(classes)} classes, "
        f"{len(train_y)} train / {len(test_y)} test ({split})",
        "source": str(folder),
    }


# --- synthetic ----------------------------------------------------------------------------------------


def _make_clusters(dim: int, classes: int = 10, n_train: int = 8000, n_test: int = 2000) -> dict[str, Any]:
    """Ten Gaussian clusters in ``dim`` dimensions: centres uniform in [0.25, 0.75]^d, per-axis standard
    deviation 0.5/√d (noise of norm ≈ 0.5 whatever d, so the classes overlap a little), clipped to [0, 1].
    Fixed seed."""
    rng = np.random.default_rng(12345 + dim)
    centres = rng.uniform(0.25, 0.75, size=(classes, dim))
    spread = 0.5 / math.sqrt(dim) if dim > 1 else 0.05
    labels = rng.integers(0, classes, size=n_train + n_test)
    points = np.clip(centres[labels] + rng.normal(0.0, spread, size=(len(labels), dim)), 0.0, 1.0)
    return {
        "train_x": points[:n_train].astype(np.float32),
        "train_y": labels[:n_train],
        "test_x": points[n_train:].astype(np.float32),
        "test_y": labels[n_train:],
        "classes": [f"cluster {i}" for i in range(classes)],
        "shape": (dim,),
        "scale": 1.0,
        "description": f"synthetic: {classes} Gaussian clusters in {dim} dimensions, {n_train} train / {n_test} test",
        "source": "built in",
    }


def _make_spirals(n_train: int = 4000, n_test: int = 1000, noise: float = 0.02) -> dict[str, Any]:
    """Two interleaved spirals of one turn each: r = θ/(2π), θ ∈ [π/4, 2π], the second rotated by π, plus
    Gaussian noise, mapped into [0, 1]². Fixed seed. (Two full turns, the classic benchmark, takes a small
    tanh MLP many epochs; one turn shows learning within a few.)"""
    rng = np.random.default_rng(2024)
    n = n_train + n_test
    labels = rng.integers(0, 2, size=n)
    theta = rng.uniform(0.25 * math.pi, 2 * math.pi, size=n)
    radius = theta / (2 * math.pi)
    angle = theta + math.pi * labels
    points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    points = np.clip(0.5 + 0.5 * points + rng.normal(0.0, noise, size=points.shape), 0.0, 1.0)
    return {
        "train_x": points[:n_train].astype(np.float32),
        "train_y": labels[:n_train],
        "test_x": points[n_train:].astype(np.float32),
        "test_y": labels[n_train:],
        "classes": ["spiral A", "spiral B"],
        "shape": (2,),
        "scale": 1.0,
        "description": f"synthetic: two interleaved spirals (one turn each) in 2-D, {n_train} train / {n_test} test",
        "source": "built in",
    }


def _fashion_location(root: Path) -> tuple[Path, str] | None:
    folder = _fashion_folder(root)
    return (folder, "") if folder is not None else None


def _cifar10_location(root: Path) -> tuple[Path, str] | None:
    found = _cifar_location(root)
    if found is None:
        return None
    return found[1], CIFAR_JPEG_NOTE if found[0] == "jpeg-folder" else ""


def _load_clusters(name: str, base: Path, allow_download: bool) -> dict[str, Any]:
    return _make_clusters(int(name.split(":", 1)[1]) if ":" in name else CLUSTERS_DEFAULT_DIM)


def _load_spirals(name: str, base: Path, allow_download: bool) -> dict[str, Any]:
    return _make_spirals()


def _load_imagefolder(name: str, base: Path, allow_download: bool) -> dict[str, Any]:
    return _load_imagefolder_dataset(Path(name[len("imagefolder:") :].strip()).expanduser())


def _load_folder(name: str, base: Path, allow_download: bool) -> dict[str, Any]:
    return _load_imagefolder_dataset(folder_path(name), label=name)


CIFAR_JPEG_NOTE = "a JPEG re-encoding of the original (pixel values differ slightly from torchvision's CIFAR-10)"
IMAGE_FOLDER_LAYOUT = "class sub-folders of images; PATH/train and PATH/test when present, else a fixed 1/6 held out"

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "mnist",
            "MNIST handwritten digits, 28×28 grey, 10 classes",
            classes=10,
            source="torchvision (downloaded when allowed)",
            load=_load_mnist,
            files=", ".join(MNIST_FILES) + " (unzipped IDX) in ROOT/MNIST/raw",
            how="allow downloads (torchvision fetches it into `ROOT/MNIST/raw`), or copy the four IDX files "
            f"({', '.join(MNIST_FILES)}, unzipped) into `ROOT/MNIST/raw`",
            sizes="60000 train / 10000 test",
            locate=_mnist_folder,
        ),
        DatasetSpec(
            "fashion-mnist",
            "Fashion-MNIST clothing images, 28×28 grey, 10 classes",
            classes=10,
            source="torchvision (downloaded when allowed), or Debian's package dataset-fashion-mnist",
            load=_load_fashion,
            files=", ".join(MNIST_FILES)
            + f" (IDX, unzipped in ROOT/FashionMNIST/raw or .gz in {DEBIAN_FASHION_MNIST})",
            how="allow downloads (torchvision fetches it into `ROOT/FashionMNIST/raw`), or install Debian's package "
            f"(apt-get install dataset-fashion-mnist → `{DEBIAN_FASHION_MNIST}`, found by itself), or copy the "
            "four IDX files into `ROOT/FashionMNIST/raw`",
            sizes="60000 train / 10000 test",
            locate=_fashion_location,
        ),
        DatasetSpec(
            "cifar10",
            "CIFAR-10 colour images, 3×32×32, 10 classes",
            classes=10,
            source="torchvision (downloaded when allowed), or a JPEG copy in class folders",
            load=_load_cifar10,
            files="ROOT/cifar-10-batches-py/{" + ",".join(CIFAR10_FILES) + "} or ROOT/cifar10-jpg/{train,test}/"
            "<class>/*.jpg",
            how="allow downloads (torchvision fetches cifar-10-python.tar.gz into `ROOT` and unpacks "
            "`ROOT/cifar-10-batches-py`), or put the unpacked `cifar-10-batches-py` folder there, or a JPEG copy as "
            "`ROOT/cifar10-jpg/{train,test}/<class>/*.jpg`",
            sizes="50000 train / 10000 test",
            locate=_cifar10_location,
        ),
        DatasetSpec(
            "clusters",
            f"synthetic: 10 Gaussian clusters in {CLUSTERS_DEFAULT_DIM} dimensions (clusters:D for D dimensions)",
            classes=10,
            source="built in (fixed seed)",
            load=_load_clusters,
            sizes="8000 train / 2000 test; always available",
            argument="D",
            check_argument=_check_clusters,
        ),
        DatasetSpec(
            "spirals",
            "synthetic: two interleaved noisy spirals (one turn each) in 2-D",
            classes=2,
            source="built in (fixed seed)",
            load=_load_spirals,
            sizes="4000 train / 1000 test; always available",
        ),
        DatasetSpec(
            "imagefolder",
            f"any folder of class sub-folders of images (torchvision ImageFolder): {IMAGE_FOLDER_LAYOUT}",
            source="your own folder (a server path: the command line only, never a browser)",
            load=_load_imagefolder,
            files=f"PATH/<class>/*.jpg|png|… ({IMAGE_FOLDER_LAYOUT})",
            how="point it at your own folder",
            argument="PATH",
            argument_required=True,
            check_argument=_check_imagefolder,
            browser=False,
        ),
        DatasetSpec(
            "folder",
            "an image folder offered by this server's operator by name",
            source=f"the operator's {IMAGE_FOLDERS_ENV}",
            load=_load_folder,
            files=f"class sub-folders of images ({IMAGE_FOLDER_LAYOUT})",
            how=f"the operator lists it in {IMAGE_FOLDERS_ENV}",
            argument="NAME",
            argument_required=True,
            check_argument=_check_folder,  # a browser picks one of the offered names, never a path
        ),
    )
}
"""Every dataset by name (the part before ``:``), in the order the CLI and the app list them."""
