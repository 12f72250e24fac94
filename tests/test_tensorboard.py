"""The TensorBoard callback: event files read back with TensorBoard's own reader, checked
against fit's history, the step counts and the final weights; the progress bar of long
evaluate/predict runs."""
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import jkeras
from jkeras import layers
from jkeras import progbar as progbar_lib
from jkeras.callbacks import LearningRateScheduler, TensorBoard
from jkeras.callbacks import progress as progress_lib

RNG = np.random.default_rng(0)
N, BATCH = 40, 8  # 32 training examples after the split: 4 steps per epoch


def _read(directory):
    events = EventAccumulator(directory, size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    return events


def _scalars(events, tag):
    return [(e.step, e.value) for e in events.Scalars(tag)]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One fit of two epochs with every kind of log, then an evaluate."""
    log_dir = str(tmp_path_factory.mktemp("tb"))
    x = RNG.standard_normal((N, 3)).astype("float32")
    y = RNG.integers(0, 2, N)
    model = jkeras.Sequential([layers.Dense(4, activation="relu", input_dim=3),
                               layers.Dense(2, activation="softmax")])
    model.compile(jkeras.optimizers.SGD(0.05), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    board = TensorBoard(log_dir, histogram_freq=1, update_freq=2)
    halve = LearningRateScheduler(lambda epoch, lr: 0.05 / 2 ** epoch)
    history = model.fit(x, y, batch_size=BATCH, epochs=2, validation_split=0.2, shuffle=False,
                        verbose=0, callbacks=[halve, board])
    evaluation = model.evaluate(x, y, batch_size=BATCH, verbose=0, callbacks=[board],
                                return_dict=True)
    return log_dir, model, history.history, evaluation


def test_epoch_scalars_and_learning_rate_in_keras_layout(run):
    log_dir, _, history, _ = run
    assert sorted(os.listdir(log_dir)) == ["train", "validation"]
    train, validation = _read(os.path.join(log_dir, "train")), _read(
        os.path.join(log_dir, "validation"))
    for name in ("loss", "accuracy"):
        got = _scalars(train, f"epoch_{name}")
        assert [s for s, _ in got] == [0, 1]
        np.testing.assert_allclose([v for _, v in got], history[name], rtol=1e-6)
        got = _scalars(validation, f"epoch_{name}")
        np.testing.assert_allclose([v for _, v in got], history[f"val_{name}"], rtol=1e-6)
    assert _scalars(train, "epoch_learning_rate") == [(0, pytest.approx(0.05)),
                                                      (1, pytest.approx(0.025))]


def test_batch_scalars_every_update_freq_steps(run):
    log_dir, _, history, _ = run
    got = _scalars(_read(os.path.join(log_dir, "train")), "batch_loss")
    assert [s for s, _ in got] == [2, 4, 6, 8]  # steps since fit began, every 2nd
    # Batch logs are running means over the epoch: its last one is the epoch's loss.
    np.testing.assert_allclose([got[1][1], got[3][1]], history["loss"], rtol=1e-6)


def test_weight_histograms_describe_the_weights(run):
    log_dir, model, _, _ = run
    events = _read(os.path.join(log_dir, "train"))
    assert sorted(events.Tags()["histograms"]) == sorted(
        f"{w.path}/histogram" for w in model.weights)
    for weight in model.weights:  # fit ended after epoch 1: its weights are the final ones
        first, last = events.Histograms(f"{weight.path}/histogram")
        assert (first.step, last.step) == (0, 1)
        value, h = np.asarray(weight.value, "float64"), last.histogram_value
        assert h.num == value.size
        assert (h.min, h.max) == pytest.approx((value.min(), value.max()), rel=1e-6)
        assert h.sum == pytest.approx(value.sum(), rel=1e-5, abs=1e-6)
        assert sum(h.bucket) == value.size


def test_evaluation_against_the_optimizer_step(run):
    log_dir, _, history, evaluation = run
    got = _scalars(_read(os.path.join(log_dir, "validation")), "evaluation_loss_vs_iterations")
    # Validation after epochs 1 and 2 (4 and 8 steps), then evaluate() after the fit.
    assert [s for s, _ in got] == [4, 8, 8]
    np.testing.assert_allclose([v for _, v in got],
                               history["val_loss"] + [evaluation["loss"]], rtol=1e-6)


def test_bad_arguments_and_a_missing_writer(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="update_freq"):
        TensorBoard(tmp_path, update_freq=0)
    with pytest.raises(ValueError, match="histogram_freq"):
        TensorBoard(tmp_path, histogram_freq=-1)
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r"jkeras\[tensorboard\]"):
        TensorBoard(tmp_path)


def test_importing_jkeras_does_not_import_tensorboardx():
    code = "import sys, jkeras; print('tensorboardX' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert out.stdout.strip() == "False"


def test_long_evaluate_and_predict_show_a_progress_bar(run, capsys):
    _, model, _, _ = run
    x = np.zeros((37, 3), "float32")
    model.predict(x, batch_size=4, verbose=1)
    model.evaluate(x, np.zeros(37, "int64"), batch_size=4, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2  # not a terminal: one line per run, when it ends
    assert lines[0].startswith("10/10 ") and "step" in lines[0]
    assert lines[1].startswith("10/10 ") and " - loss: " in lines[1]


def test_a_live_predict_bar_counts_finished_batches(run, monkeypatch):
    """On a terminal the bar redraws while predict runs; since batches are dispatched
    ahead, each redraw first waits for the batch before the current one."""
    _, model, _, _ = run
    events = []

    class Terminal:
        def isatty(self):
            return True

        def write(self, text):
            if text.strip():
                events.append(("draw", text.strip().split()[0]))

        def flush(self):
            pass

    clock = iter(range(10**6))  # one second per reading: every update is due to redraw
    monkeypatch.setattr(progbar_lib.time, "time", lambda: float(next(clock)))
    monkeypatch.setattr(sys, "stdout", Terminal())
    wait = jax.block_until_ready
    monkeypatch.setattr(progress_lib.jax, "block_until_ready",
                        lambda x: events.append(("wait", x)) or wait(x))
    out = model.predict(np.zeros((12, 3), "float32"), batch_size=4, verbose=1)
    assert out.shape == (12, 2)
    kinds = [(kind, value if kind == "draw" else None) for kind, value in events]
    assert kinds == [("wait", None), ("draw", "1/3"), ("wait", None), ("draw", "2/3"),
                     ("wait", None), ("draw", "3/3")]
    waited = [value for kind, value in events if kind == "wait"]
    assert all(isinstance(v, jax.Array) for v in waited)


# -- weights as images, embeddings for the projector, a profile ------------------------------
@pytest.fixture(scope="module")
def extras(tmp_path_factory):
    """Two epochs of 3 batches over Embedding -> Conv2D -> Dense, with images, embeddings
    every 2nd epoch and a profile of batches 3 and 4; the weights after each epoch."""
    log_dir = str(tmp_path_factory.mktemp("tb_extras"))
    labels = os.path.join(log_dir, "..", "labels.tsv")
    with open(labels, "w") as f:
        f.write("word\tcount\n" + "".join(f"w{i}\t{i}\n" for i in range(6)))
    model = jkeras.Sequential([layers.Embedding(6, 4, name="embedding"),
                               layers.Reshape((4, 4, 1)), layers.Conv2D(5, 2), layers.Flatten(),
                               layers.Dense(1)])
    model.compile("adam", "mse")
    seen = []
    keep = jkeras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(
        {w.path: np.array(w.value) for w in model.weights}))
    board = TensorBoard(log_dir, histogram_freq=1, write_images=True, profile_batch=(3, 4),
                        embeddings_freq=2, embeddings_metadata={"embedding": labels})
    model.fit(RNG.integers(0, 6, (12, 4)), RNG.standard_normal((12, 1)), batch_size=4,
              epochs=2, shuffle=False, verbose=0, callbacks=[keep, board])
    return log_dir, model, seen, labels


def _png(data):
    from PIL import Image
    import io
    return np.asarray(Image.open(io.BytesIO(data)))


def test_weights_written_as_images_as_keras_shapes_them(extras):
    log_dir, model, seen, _ = extras
    events = EventAccumulator(os.path.join(log_dir, "train"), size_guidance={"tensors": 0})
    events.Reload()
    emb, kernel, bias, dense = "embedding/embeddings", "conv2d/kernel", "conv2d/bias", \
        "dense/kernel"
    # The images Keras makes: a (6, 4) table with its longer side across, each of the
    # first 3 of 5 (2, 2) filters, a vector as a column; a single value (Dense's bias) none.
    assert sorted(events.Tags()["tensors"]) == sorted(f"{p}/image" for p in (emb, kernel,
                                                                              bias, dense))
    for epoch, weights in enumerate(seen):
        want = {emb: [weights[emb].T], kernel: [weights[kernel][:, :, 0, i] for i in range(3)],
                bias: [weights[bias][:, None]], dense: [weights[dense]]}
        for path, images in want.items():
            event = events.Tensors(f"{path}/image")[epoch]
            assert event.step == epoch
            width, height, *pngs = event.tensor_proto.string_val
            assert (int(width), int(height)) == images[0].shape[::-1]
            # tf.summary.image's conversion: tf.image.convert_image_dtype(saturate=True).
            for png, image in zip(pngs, images, strict=True):
                np.testing.assert_array_equal(
                    _png(png), np.floor(np.clip(image * 255.5, 0, 255)).astype(np.uint8))


def test_embeddings_written_for_the_projector(extras):
    from google.protobuf import text_format
    from tensorboard.plugins.projector import projector_config_pb2

    log_dir, _, seen, labels = extras
    train = os.path.join(log_dir, "train")
    config = text_format.Parse(open(os.path.join(train, "projector_config.pbtxt")).read(),
                               projector_config_pb2.ProjectorConfig())
    [embedding] = config.embeddings  # epoch 0 only: embeddings_freq=2
    assert embedding.tensor_path == "00000/embedding/tensors.tsv"
    np.testing.assert_allclose(np.loadtxt(os.path.join(train, embedding.tensor_path)),
                               seen[0]["embedding/embeddings"], rtol=1e-6)
    assert open(os.path.join(train, embedding.metadata_path)).read() == open(labels).read()


def test_profile_traces_the_asked_batches_only(extras):
    log_dir = extras[0]
    profile = os.path.join(log_dir, "train", "plugins", "profile")
    [run] = os.listdir(profile)  # one trace for batches 3 and 4
    [xplane] = [f for f in os.listdir(os.path.join(profile, run)) if f.endswith(".xplane.pb")]
    data = open(os.path.join(profile, run, xplane), "rb").read()
    # Batch 3 is the last of epoch 0, batch 4 the first of epoch 1 (indices in the epoch).
    assert b"Profiled batch 2" in data and b"Profiled batch 0" in data
    assert b"Profiled batch 1" not in data


def test_bad_profile_and_embedding_arguments(extras, tmp_path):
    for bad in (-1, True, 1.5, (3, 2), (0, 2), (1, 2, 3), "3,2", "1,2,3", "a", "-1", ""):
        with pytest.raises(ValueError, match="profile_batch"):
            TensorBoard(tmp_path, profile_batch=bad)
    # Keras' legacy string form: the same batches as the int or the pair
    for text, batches in (("2", (2, 2)), ("0", None), ("3,4", (3, 4)), (" 3, 4", (3, 4))):
        assert TensorBoard(tmp_path, profile_batch=text).profile_batch == batches
    with pytest.raises(ValueError, match="embeddings_freq"):
        TensorBoard(tmp_path, embeddings_freq=-1)
    with pytest.raises(TypeError, match="embeddings_metadata"):
        TensorBoard(tmp_path, embeddings_metadata=3)
    _, model, _, labels = extras
    x, y = np.zeros((4, 4), "int32"), np.zeros((4, 1))
    short = tmp_path / "short.tsv"
    short.write_text("a\nb\n")
    for meta, match in (({"embedding": labels, "dense": labels}, r"\['dense'\]"),
                        (str(short), "2 labels for the 6 rows")):
        board = TensorBoard(tmp_path, embeddings_freq=1, embeddings_metadata=meta)
        with pytest.raises(ValueError, match=match):
            model.fit(x, y, verbose=0, callbacks=[board])
