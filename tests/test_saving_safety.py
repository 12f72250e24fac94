"""Hostile and broken files: each gets a clear ValueError, runs nothing, allocates
nothing big and changes nothing."""
import io
import json
import os
import sys
import zipfile

import h5py
import numpy as np
import pytest

import jkeras
from jkeras import layers


def _model():
    return jkeras.Sequential([layers.Dense(4, input_dim=3, name="a"), layers.Dense(2, name="b")])


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A valid file: its config and weights, to be tampered with."""
    path = str(tmp_path_factory.mktemp("good") / "m.keras")
    _model().save(path)
    with zipfile.ZipFile(path) as archive:
        return path, {n: archive.read(n) for n in archive.namelist()}


def _write(tmp_path, members, name="bad.keras", compression=zipfile.ZIP_STORED):
    path = str(tmp_path / name)
    with zipfile.ZipFile(path, "w", compression) as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return path


def _with_config(good, tmp_path, change):
    members = dict(good[1])
    config = json.loads(members["config.json"])
    change(config)
    members["config.json"] = json.dumps(config)
    return _write(tmp_path, members)


@pytest.mark.parametrize("module, name", [("os", "system"), ("subprocess", "Popen"),
                                          ("builtins", "eval"), ("evil_module_xyz", "Dense")])
def test_config_naming_code_is_refused_and_nothing_imported(good, tmp_path, module, name):
    marker = tmp_path / "ran"

    def change(config):
        config["config"]["layers"][1] = {"module": module, "class_name": name,
                                         "config": {"command": f"touch {marker}"},
                                         "registered_name": None}
    path = _with_config(good, tmp_path, change)
    with pytest.raises(ValueError, match=f"{module}.{name}.*not a jkeras class"):
        jkeras.models.load_model(path)
    assert not marker.exists() and "evil_module_xyz" not in sys.modules


def test_registered_name_outside_the_registry_is_refused(good, tmp_path):
    def change(config):
        config["config"]["layers"][1]["registered_name"] = "os>system"
        config["config"]["layers"][1]["module"] = "os"
        config["config"]["layers"][1]["class_name"] = "system"
    with pytest.raises(ValueError, match="not a jkeras class"):
        jkeras.models.load_model(_with_config(good, tmp_path, change))


@pytest.mark.parametrize("safe_mode", [True, False])
def test_lambda_bytecode_is_refused_in_either_mode(good, tmp_path, safe_mode):
    def change(config):
        config["config"]["layers"][1] = {
            "module": "keras.layers", "class_name": "Lambda", "registered_name": None,
            "config": {"name": "lam", "function": {
                "class_name": "__lambda__",
                "config": {"code": "4wEAAAAAAAAAAAAAAAEAAAADAAAAQwAAAHMEAAAAfABTACkBTqkAKQHaAXhy",
                           "defaults": None, "closure": None}}}}
    with pytest.raises(ValueError, match="bytecode"):
        jkeras.models.load_model(_with_config(good, tmp_path, change), safe_mode=safe_mode)


def test_huge_declared_dataset_is_refused_before_reading(good, tmp_path):
    buffer = io.BytesIO()
    with h5py.File(io.BytesIO(good[1]["model.weights.h5"]), "r") as src, \
            h5py.File(buffer, "w") as dst:
        for key in src:
            src.copy(key, dst)
        del dst["layers/dense/vars/0"]
        # 4e12 float32 values declared; h5 allocates nothing until written
        dst.create_dataset("layers/dense/vars/0", shape=(2_000_000, 2_000_000), dtype="f4",
                           chunks=(1, 1))
    members = {**good[1], "model.weights.h5": buffer.getvalue()}
    with pytest.raises(ValueError, match=r"shape \(2000000, 2000000\).*shape \(3, 4\)"):
        jkeras.models.load_model(_write(tmp_path, members))


@pytest.mark.parametrize("data, message", [
    (np.zeros((4, 3), "float32"), r"shape \(4, 3\).*shape \(3, 4\)"),
    (np.array([[b"ab"] * 4] * 3), "dtype"),
    (np.zeros((3, 4), "int32"), "dtype int32"),
])
def test_mismatched_weights_are_refused(good, tmp_path, data, message):
    buffer = io.BytesIO()
    with h5py.File(io.BytesIO(good[1]["model.weights.h5"]), "r") as src, \
            h5py.File(buffer, "w") as dst:
        for key in src:
            src.copy(key, dst)
        del dst["layers/dense/vars/0"]
        dst["layers/dense/vars/0"] = data
    members = {**good[1], "model.weights.h5": buffer.getvalue()}
    with pytest.raises(ValueError, match=message):
        jkeras.models.load_model(_write(tmp_path, members))


@pytest.mark.parametrize("member", ["../escape.txt", "/etc/evil", "a/../../b"])
def test_zip_with_unsafe_paths_is_refused(good, tmp_path, member):
    path = _write(tmp_path, {**good[1], member: b"x"})
    with pytest.raises(ValueError, match="unsafe path"):
        jkeras.models.load_model(path)


def test_zip_bombs_are_refused(good, tmp_path):
    bomb = b"\0" * (32 << 20)  # 32 MiB of zeros deflate to ~32 KiB
    for member in ("model.weights.h5", "config.json"):
        path = _write(tmp_path, {**good[1], member: bomb}, compression=zipfile.ZIP_DEFLATED)
        with pytest.raises(ValueError, match="bomb|more than"):
            jkeras.models.load_model(path)


def test_truncated_and_non_zip_files(good, tmp_path):
    data = open(good[0], "rb").read()
    cut = tmp_path / "cut.keras"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.keras"):
        jkeras.models.load_model(str(cut))
    text = tmp_path / "text.keras"
    text.write_text("not a zip")
    with pytest.raises(ValueError, match="not a readable .keras file"):
        jkeras.models.load_model(str(text))
    with pytest.raises(ValueError, match="not valid JSON"):
        jkeras.models.load_model(_write(tmp_path, {**good[1], "config.json": b"{oops"}))


def test_deeply_nested_config_is_refused(good, tmp_path):
    deep = "[" * 10_000 + "]" * 10_000
    with pytest.raises(ValueError, match="nested"):
        jkeras.models.load_model(_write(tmp_path, {**good[1], "config.json": deep}))
    deep = '{"a": ' * 5_000 + "1" + "}" * 5_000
    with pytest.raises(ValueError, match="nested"):
        jkeras.models.load_model(_write(tmp_path, {**good[1], "config.json": deep}))


def test_failed_loads_change_nothing(tmp_path):
    source, target = _model(), _model()
    source.set_weights([w + 1 for w in source.get_weights()])
    for name in ("m.weights.h5", "m.weights.npz"):
        path = str(tmp_path / name)
        source.save_weights(path)
        if name.endswith(".h5"):
            with h5py.File(path, "a") as h5:  # the last weight broken, the others fine
                del h5["layers/dense_1/vars/1"]
                h5["layers/dense_1/vars/1"] = np.zeros(5, "float32")
        else:
            arrays = dict(np.load(path))
            arrays[list(arrays)[-1]] = np.zeros(5, "float32")
            np.savez(path, **arrays)
        before = target.get_weights()
        with pytest.raises(ValueError, match="Nothing was changed|shape"):
            target.load_weights(path)
        for a, b in zip(target.get_weights(), before):
            np.testing.assert_array_equal(a, b)


def test_pickled_npz_is_refused(tmp_path):
    path = str(tmp_path / "p.weights.npz")
    np.savez(path, **{"a/kernel": np.array([object()], dtype=object)})
    model = _model()
    with pytest.raises(ValueError, match="pickle"):
        model.load_weights(path)
    assert os.path.exists(path)
