"""Datasets: real copies in ../shared/datasets, image folders written here, synthetic tasks, offline errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ipcore import cli
from ipcore import data as data_module
from ipcore.config import ConfigError, TrainConfig
from ipcore.data import DatasetUnavailable, available_datasets, load_dataset, load_image_folder
from ipcore.training.loop import train

from conftest import DATA, needs_mnist


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Decoded-image caches go to a temporary folder, and the in-memory cache starts empty."""
    monkeypatch.setenv("IPCORE_CACHE", str(tmp_path / "cache"))
    data_module._memory_cache.clear()
    yield
    data_module._memory_cache.clear()


# --- real data ----------------------------------------------------------------------------------------


@needs_mnist
def test_mnist_is_whole_flat_and_scaled():
    mnist = load_dataset("mnist", DATA)
    assert mnist.train_x.shape == (60000, 784) and mnist.test_x.shape == (10000, 784)
    assert mnist.train_x.dtype == torch.float32 and mnist.train_y.dtype == torch.int64
    assert float(mnist.train_x.min()) == 0.0 and float(mnist.train_x.max()) == 1.0
    assert sorted(mnist.train_y.unique().tolist()) == list(range(10)) and mnist.num_classes == 10
    from torchvision.datasets import MNIST  # the same pixels as torchvision's own reader, /255

    reference = MNIST(str(DATA), train=True)
    np.testing.assert_array_equal(mnist.train_x[:5].numpy() * 255, reference.data[:5].reshape(5, -1).float().numpy())
    assert mnist.train_y[:100].tolist() == reference.targets[:100].tolist()


@needs_mnist
def test_subset_is_the_first_samples():
    whole = load_dataset("mnist", DATA)
    part = load_dataset("mnist", DATA, subset=1000)
    assert part.train_x.shape == (1000, 784) and part.test_x.shape == (10000, 784)
    assert torch.equal(part.train_x, whole.train_x[:1000]) and torch.equal(part.train_y, whole.train_y[:1000])


@needs_mnist
def test_data_root_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("IPCORE_DATA", str(DATA))
    assert load_dataset("mnist", subset=10).train_x.shape == (10, 784)


@pytest.mark.skipif(
    not (data_module.DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file(),
    reason="needs Debian's dataset-fashion-mnist package",
)
def test_fashion_mnist_from_the_debian_package(tmp_path):
    fashion = load_dataset("fashion-mnist", tmp_path)  # nothing under the root: the Debian copy is used
    assert fashion.train_x.shape == (60000, 784) and fashion.test_x.shape == (10000, 784)
    assert fashion.classes[0] == "T-shirt/top" and fashion.train_x.max() == 1.0
    assert str(data_module.DEBIAN_FASHION_MNIST) in fashion.source


# --- damaged IDX files (copies built here from the real ones, which are only read) ---------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """An uint8 array as an IDX file: 0, 0, 0x08, ndim, big-endian int32 sizes, data."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def damaged_mnist(root: Path, name: str, content: bytes) -> Path:
    """ROOT/MNIST/raw with links to the real files, except ``name``, written with ``content``."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for other in data_module.MNIST_FILES:
        if other != name:
            (raw / other).symlink_to(DATA / "MNIST" / "raw" / other)
    (raw / name).write_bytes(content)
    return raw / name


def real(name: str) -> bytes:
    return (DATA / "MNIST" / "raw" / name).read_bytes()


TRAIN_LABELS, TRAIN_IMAGES = "train-labels-idx1-ubyte", "train-images-idx3-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"


@needs_mnist
@pytest.mark.parametrize(
    "name, make, message",
    [
        (TRAIN_LABELS, lambda: real(TRAIN_LABELS)[:1008], "is truncated: its header announces 60000 bytes of data, "
         "it holds 1000"),
        (TRAIN_IMAGES, lambda: real(TRAIN_IMAGES)[: 16 + 784 * 100 + 5], "is truncated: its header announces "
         "60000 × 28 × 28 = 47040000 bytes of data, it holds 78405"),
        (TRAIN_IMAGES, lambda: real(TRAIN_IMAGES) + b"\x00" * 784, "has extra bytes after its data"),
        (TEST_IMAGES, lambda: b"", "is empty"),
        (TEST_IMAGES, lambda: real(TEST_IMAGES)[:10], "is truncated inside its header (10 of 16 bytes)"),
        (TEST_IMAGES, lambda: b"\x1f\x8b" + real(TEST_IMAGES)[2:], "is not an uint8 IDX file (it starts with 1f 8b"),
        (TRAIN_LABELS, lambda: idx_bytes(np.zeros(1000, np.uint8)), "has 1000 labels but train-images-idx3-ubyte "
         "has 60000 images"),
        (TRAIN_LABELS, lambda: idx_bytes(np.zeros(70000, np.uint8)), "has 70000 labels but"),
        (TRAIN_LABELS, lambda: idx_bytes(np.full(60000, 10, np.uint8)), "holds label 10; labels must be 0–9"),
        (TRAIN_LABELS, lambda: real(TRAIN_IMAGES)[:100], "holds a 3-dimensional array where a 1-dimensional one"),
    ],
    ids=["labels-cut", "images-cut", "images-long", "empty", "header-cut", "bad-magic", "fewer-labels",
         "more-labels", "label-10", "images-as-labels"],
)  # fmt: skip
def test_a_damaged_mnist_file_is_a_clear_error_naming_it(tmp_path, name, make, message, capsys):
    path = damaged_mnist(tmp_path, name, make())
    with pytest.raises(ConfigError) as error:
        load_dataset("mnist", tmp_path)
    assert error.value.field == "dataset"
    assert str(error.value).startswith(f"dataset: mnist: {path} {message}"), str(error.value)
    code = cli.main(["train", "--dataset", "mnist", "--data-root", str(tmp_path), "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: dataset: mnist: {path}") and "Traceback" not in err


@pytest.mark.skipif(
    not (data_module.DEBIAN_FASHION_MNIST / "t10k-labels-idx1-ubyte.gz").is_file(),
    reason="needs Debian's dataset-fashion-mnist package",
)
def test_a_cut_fashion_mnist_gzip_is_a_clear_error(tmp_path, monkeypatch):
    debian = tmp_path / "debian"
    debian.mkdir()
    for name in data_module.MNIST_FILES:
        (debian / f"{name}.gz").symlink_to(data_module.DEBIAN_FASHION_MNIST / f"{name}.gz")
    cut = debian / "t10k-labels-idx1-ubyte.gz"
    content = cut.read_bytes()
    cut.unlink()
    cut.write_bytes(content[: len(content) // 2])
    monkeypatch.setattr(data_module, "DEBIAN_FASHION_MNIST", debian)
    with pytest.raises(ConfigError, match=rf"^dataset: fashion-mnist: {cut} cannot be read \(EOFError"):
        load_dataset("fashion-mnist", tmp_path / "root")


# --- missing data -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_missing_dataset_offline_says_where_and_how(name, tmp_path, monkeypatch):
    monkeypatch.setenv("IPCORE_OFFLINE", "1")
    monkeypatch.setattr(data_module, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian-package")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetUnavailable) as error:
        load_dataset(name, empty)
    message = str(error.value)
    assert error.value.field == "dataset" and isinstance(error.value, ConfigError)
    assert name in message and str(empty) in message and "To get it" in message
    expected = {
        "mnist": "train-images-idx3-ubyte",
        "fashion-mnist": "t10k-labels-idx1-ubyte",
        "cifar10": "data_batch_1",
    }
    assert expected[name] in message


def test_missing_dataset_in_the_cli_is_a_message_not_a_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IPCORE_OFFLINE", "1")
    code = cli.main(
        ["train", "--dataset", "mnist", "--data-root", str(tmp_path), "--device", "cpu", "--json", "--quiet"]
    )
    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: dataset: mnist is not available") and "Traceback" not in captured.err


def test_available_datasets_report(tmp_path, monkeypatch):
    monkeypatch.setattr(data_module, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian-package")
    listing = {d["name"]: d for d in available_datasets(tmp_path)}
    assert not listing["mnist"]["available"] and str(tmp_path) in listing["mnist"]["how"]
    assert not listing["cifar10"]["available"] and not listing["fashion-mnist"]["available"]
    assert listing["clusters"]["available"] and listing["spirals"]["available"]
    json.dumps(listing)


@needs_mnist
def test_available_datasets_finds_the_shared_data():
    shared = {d["name"]: d for d in available_datasets(DATA)}
    assert shared["mnist"]["available"] and shared["cifar10"]["available"]
    assert "JPEG" in shared["cifar10"]["description"]


# --- image folders -------------------------------------------------------------------------------------


def write_images(folder: Path, classes: dict[str, int], size=(6, 5), mode="RGB", seed=0) -> None:
    rng = np.random.default_rng(seed)
    for name, count in classes.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
            Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), mode).save(folder / name / f"{i}.png")


def test_image_folder_with_train_and_test(tmp_path):
    write_images(tmp_path / "train", {"cat": 4, "dog": 3})
    write_images(tmp_path / "test", {"cat": 2, "dog": 2}, seed=1)
    folder = load_dataset(f"imagefolder:{tmp_path}")
    assert folder.classes == ["cat", "dog"] and folder.shape == (3, 5, 6)
    assert folder.train_x.shape == (7, 90) and folder.test_x.shape == (4, 90)
    assert folder.train_y.tolist() == [0, 0, 0, 0, 1, 1, 1]
    pixels = np.asarray(Image.open(tmp_path / "train" / "dog" / "0.png"))  # H, W, C → C, H, W, then /255
    np.testing.assert_allclose(folder.train_x[4].numpy(), pixels.transpose(2, 0, 1).reshape(-1) / 255, rtol=1e-6)
    assert (tmp_path / "train" / ".ipcore-decoded.npz").is_file()  # cached beside the (writable) data


def test_image_folder_cache_is_used_and_refreshed(tmp_path, monkeypatch):
    write_images(tmp_path, {"a": 3, "b": 3}, mode="L")
    first = load_image_folder(tmp_path)
    assert first["images"].shape == (6, 1, 5, 6) and first["cache"] == str(tmp_path / ".ipcore-decoded.npz")
    with np.load(first["cache"], allow_pickle=False) as cached:  # plain arrays, no pickle
        assert cached["images"].dtype == np.uint8

    def no_decoding(paths):
        raise AssertionError("decoded again although the cache is fresh")

    with monkeypatch.context() as patch:
        patch.setattr(data_module, "_decode_all", no_decoding)
        again = load_image_folder(tmp_path)
    np.testing.assert_array_equal(again["images"], first["images"])
    write_images(tmp_path, {"c": 1}, mode="L", seed=3)  # a new class: the cache is stale
    grown = load_image_folder(tmp_path)
    assert grown["images"].shape[0] == 7 and grown["classes"] == ["a", "b", "c"]


def test_read_only_folder_is_cached_in_the_cache_dir(tmp_path):
    images = tmp_path / "images"
    write_images(images / "train", {"x": 2, "y": 2})
    write_images(images / "test", {"x": 1, "y": 1})
    for path in sorted(images.rglob("*"), reverse=True) + [images]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        load_dataset(f"imagefolder:{images}")
        assert not list(images.rglob("*.npz"))  # nothing written into the read-only data
        cached = list((tmp_path / "cache" / "imagefolder").glob("*.npz"))
        assert sorted(p.name.split("-")[0] for p in cached) == ["test", "train"]
        data_module._memory_cache.clear()
        assert load_dataset(f"imagefolder:{images}").train_x.shape == (4, 90)
    finally:
        for path in [images, *images.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_image_folder_without_split_holds_out_a_fixed_sixth(tmp_path):
    write_images(tmp_path, {"a": 6, "b": 6}, size=(4, 4))
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "b" / "big.png")  # resized to 4×4
    first = load_dataset(f"imagefolder:{tmp_path}")
    assert len(first.train_y) + len(first.test_y) == 13 and len(first.test_y) == 3
    data_module._memory_cache.clear()
    second = load_dataset(f"imagefolder:{tmp_path}")
    assert torch.equal(first.test_x, second.test_x) and torch.equal(first.train_y, second.train_y)


def test_bad_image_folders_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_dataset(f"imagefolder:{tmp_path / 'missing'}")
    (tmp_path / "empty" / "class").mkdir(parents=True)
    with pytest.raises(ConfigError, match="not usable|no images"):
        load_dataset(f"imagefolder:{tmp_path / 'empty'}")


def png_bytes(seed: int = 0) -> bytes:
    import io

    buffer = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(seed: int = 0) -> bytes:
    import io

    buffer = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "bad_name, content",
    [
        ("notes.png", b"these are my notes, not an image\n"),
        ("empty.jpg", b""),
        ("truncated.png", png_bytes()[: len(png_bytes()) // 2]),
        ("truncated.jpg", jpeg_bytes()[: len(jpeg_bytes()) // 2]),
    ],
    ids=["text", "empty", "truncated-png", "truncated-jpeg"],
)
def test_a_bad_image_file_is_a_config_error_naming_it(tmp_path, bad_name, content, capsys):
    write_images(tmp_path / "train", {"cat": 3, "dog": 3}, size=(16, 16))
    write_images(tmp_path / "test", {"cat": 1, "dog": 1}, size=(16, 16), seed=1)
    (tmp_path / "train" / "dog" / bad_name).write_bytes(content)
    with pytest.raises(ConfigError) as error:
        load_dataset(f"imagefolder:{tmp_path}")
    assert error.value.field == "dataset"
    message = str(error.value)
    assert message.startswith(f"dataset: {Path('dog') / bad_name} in image folder {tmp_path / 'train'}"), message
    assert "cannot be read as an image" in message
    assert not (tmp_path / "train" / ".ipcore-decoded.npz").exists()  # nothing half-decoded is cached
    code = cli.main(
        ["train", "--dataset", f"imagefolder:{tmp_path}", "--depth", "1", "--width", "4", "--device", "cpu"]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: dataset: {Path('dog') / bad_name}") and "Traceback" not in err


def test_a_bad_first_image_is_named_too(tmp_path):
    write_images(tmp_path, {"b": 3, "c": 3})
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)  # a PNG signature, then nothing
    with pytest.raises(ConfigError, match=r"^dataset: a/0\.png in image folder .* cannot be read as an image"):
        load_image_folder(tmp_path)


def test_a_one_class_image_folder_warns_that_there_is_nothing_to_learn(tmp_path, capsys):
    write_images(tmp_path, {"only": 6}, size=(4, 4))
    with pytest.warns(data_module.DatasetWarning, match=r"has only one class \(only\).*nothing to learn"):
        data = load_dataset(f"imagefolder:{tmp_path}")
    assert data.classes == ["only"]
    code = cli.main(["train", "--dataset", f"imagefolder:{tmp_path}", "--depth", "1", "--width", "4",
                     "--device", "cpu", "--json"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0 and json.loads(captured.out)["rules"]  # it still runs: a warning, not an error
    assert "warning: imagefolder:" in captured.err and "nothing to learn" in captured.err


def test_training_on_an_image_folder(tmp_path):
    write_images(tmp_path / "train", {"cat": 10, "dog": 10})
    write_images(tmp_path / "test", {"cat": 3, "dog": 3}, seed=1)
    config = TrainConfig(
        dataset=f"imagefolder:{tmp_path}", rules=["ip", "none"], depth=2, width=8, seeds=2, batch_size=8,
        epochs=2, device="cpu",
    )  # fmt: skip
    result = train(config)
    assert result.state == "done" and result.metrics["epoch/test_acc"].shape == (2, 4)
    assert result.metrics["batch/loss"].shape == (6, 4)  # 20 samples in batches of 8, 8, 4


# --- synthetic ----------------------------------------------------------------------------------------


def test_synthetic_datasets_are_fixed_and_in_range():
    for name, dim, classes in (("clusters", 20, 10), ("clusters:3", 3, 10), ("spirals", 2, 2)):
        first = load_dataset(name)
        data_module._memory_cache.clear()
        second = load_dataset(name)
        assert first.input_dim == dim and first.num_classes == classes
        assert torch.equal(first.train_x, second.train_x)
        assert 0.0 <= float(first.train_x.min()) and float(first.train_x.max()) <= 1.0
        assert len(first.test_y) > 0 and first.source == "built in"
