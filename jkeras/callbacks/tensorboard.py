"""``TensorBoard``: Keras' event files for TensorBoard, written with tensorboardX."""
import io
import itertools
import numbers
import os
import warnings

import jax
import numpy as np

from .base import Callback

_opened = itertools.count()
_EXTRA = "install it with `pip install 'jkeras[tensorboard]'`"


def _summary_writer():
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise ImportError(f"The TensorBoard callback writes its event files with tensorboardX: "
                          f"{_EXTRA}.") from None
    return SummaryWriter


def _is_count(value, least):
    return not isinstance(value, bool) and isinstance(value, numbers.Integral) and value >= least


def _profile_range(profile_batch):
    """``profile_batch`` as the ``(start, stop)`` batches to trace, or ``None``."""
    if isinstance(profile_batch, str):  # Keras' legacy "start,stop" (or "start")
        parts = [p.strip() for p in profile_batch.split(",")]
        if 1 <= len(parts) <= 2 and all(p.isdigit() for p in parts):
            profile_batch = int(parts[0]) if len(parts) == 1 else [int(p) for p in parts]
    if _is_count(profile_batch, 0):
        return (int(profile_batch),) * 2 if profile_batch else None
    if isinstance(profile_batch, (tuple, list)) and len(profile_batch) == 2 and all(
            _is_count(b, 1) for b in profile_batch) and profile_batch[0] <= profile_batch[1]:
        return tuple(int(b) for b in profile_batch)
    raise ValueError(f"TensorBoard: profile_batch must be an integer >= 0 (0: no profiling) or "
                     f"a pair (start, stop) of batches with 1 <= start <= stop (or either as "
                     f"a string, \"start,stop\"), got "
                     f"{profile_batch!r}.")


def _weight_images(value):
    """A weight as Keras shows it: ``(k, height, width, channels)`` values, or ``None``.

    Size-1 axes are dropped; a vector is one column, a matrix one image with its longer
    side across, a 3-d kernel one image per output channel. Keras writes a 4-d array
    when its last axis can be colour channels (1, 3 or 4) and skips the rest.
    """
    w = np.squeeze(np.asarray(value))
    if w.ndim == 1:
        w = w.reshape(1, -1, 1, 1)
    elif w.ndim == 2:
        w = (w.T if w.shape[0] > w.shape[1] else w)[None, :, :, None]
    elif w.ndim == 3:
        w = np.transpose(w, (2, 0, 1))[..., None]
    return w if w.ndim == 4 and w.shape[-1] in (1, 3, 4) else None


def _image_summary(tag, images):
    """TensorFlow 2's image summary (as ``tf.summary.image`` writes it, up to 3 images):
    the width, the height, then one PNG per image."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(f"TensorBoard(write_images=True) encodes PNGs with Pillow: "
                          f"{_EXTRA}.") from None
    from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboardX.proto.tensor_pb2 import TensorProto
    from tensorboardX.proto.tensor_shape_pb2 import TensorShapeProto
    from tensorboardX.proto.types_pb2 import DT_STRING

    # tf.image.convert_image_dtype(..., tf.uint8, saturate=True), as tf.summary.image does.
    pixels = np.clip(images[:3].astype("float64") * 255.5, 0, 255).astype(np.uint8)
    pngs = []
    for image in pixels:
        out = io.BytesIO()
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(out, "PNG")
        pngs.append(out.getvalue())
    strings = [str(images.shape[2]).encode(), str(images.shape[1]).encode(), *pngs]
    tensor = TensorProto(dtype=DT_STRING, string_val=strings, tensor_shape=TensorShapeProto(
        dim=[TensorShapeProto.Dim(size=len(strings))]))
    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="images"))
    return Summary(value=[Summary.Value(tag=tag, tensor=tensor, metadata=metadata)])


def _read_metadata(path):
    """A projector metadata file: its labels and, for several columns, its header."""
    with open(path, encoding="utf8") as f:
        rows = f.read().splitlines()
    if rows and "\t" in rows[0]:
        return [row.split("\t") for row in rows[1:]], rows[0].split("\t")
    return rows, None


class TensorBoard(Callback):
    """Writes Keras' TensorBoard logs: scalars per epoch (and per batch), weight histograms
    and the learning rate, under ``log_dir/train`` and ``log_dir/validation``.

    Tags are Keras 3's: ``epoch_loss``, ``epoch_<metric>`` and ``epoch_learning_rate``
    in ``train``, the validation metrics as ``epoch_<name>`` in ``validation`` (with
    ``evaluation_<name>_vs_iterations`` against the optimizer's step), ``batch_<name>``
    every ``update_freq`` training steps (``"batch"`` is 1; ``"epoch"``, the default,
    writes none) and ``<weight path>/histogram`` every ``histogram_freq`` epochs.
    ``write_graph`` is accepted for Keras' sake and, as with Keras on JAX, writes no
    graph. Needs tensorboardX (the ``jkeras[tensorboard]`` extra); view the logs with
    ``tensorboard --logdir log_dir``.

    ``write_images=True`` adds each weight as an image (``<weight path>/image``, as Keras
    writes them: a vector as a column, a matrix with its longer side across, a 3-d kernel
    as one image per output channel, up to 3; values below 0 show black, above 1 white)
    when the histograms are written. ``profile_batch=b`` or ``(start, stop)`` traces those training
    batches of the fit (counted from 1 over all epochs, one per batch hook) with
    ``jax.profiler`` into ``log_dir/train/plugins/profile``, each batch annotated
    ``Profiled batch <index in its epoch>``. ``embeddings_freq=n`` writes the table of
    each ``Embedding`` layer of the model for TensorBoard's projector every ``n`` epochs
    (``log_dir/train/<epoch>/<layer name>/tensors.tsv``, listed in
    ``log_dir/train/projector_config.pbtxt``), with the labels of
    ``embeddings_metadata`` (a file name, or a dict of them by layer name; a file with tabs
    has a header row, as the projector reads it).

    >>> import os, tempfile, numpy as np, jkeras
    >>> model = jkeras.Sequential([jkeras.layers.Dense(1, input_dim=2)])
    >>> model.compile("sgd", "mse")
    >>> logs = tempfile.mkdtemp()
    >>> _ = model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=2, verbose=0,
    ...               callbacks=[TensorBoard(logs, histogram_freq=1)])
    >>> sorted(os.listdir(logs))
    ['train']
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=False,
                 write_images=False, *, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None):
        super().__init__()
        self._writer_class = _summary_writer()
        for name, value in (("histogram_freq", histogram_freq),
                            ("embeddings_freq", embeddings_freq)):
            if not _is_count(value, 0):
                raise ValueError(f"TensorBoard: {name} must be an integer >= 0, got {value!r}.")
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and not _is_count(update_freq, 1):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive "
                             f"integer, got {update_freq!r}.")
        if not (embeddings_metadata is None or isinstance(embeddings_metadata, (str, os.PathLike))
                or isinstance(embeddings_metadata, dict)):
            raise TypeError(f"TensorBoard: embeddings_metadata must be a file name or a dict of "
                            f"them by Embedding layer name, got "
                            f"{type(embeddings_metadata).__name__}.")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq, self.write_graph = int(histogram_freq), bool(write_graph)
        self.write_images = bool(write_images)
        self.update_freq = update_freq
        self.profile_batch = _profile_range(profile_batch)
        self.embeddings_freq, self.embeddings_metadata = int(embeddings_freq), embeddings_metadata
        self._writers = {}
        self._in_fit = False
        self._steps = self._epoch_start = self._last_batch_write = 0
        self._first_step = 0
        self._batches, self._tracing, self._annotation = 0, False, None
        self._embeddings = []

    # -- writers, made on first use so that unused ones leave no directory --------------
    def _writer(self, which):
        if which not in self._writers:
            # Files are named by the second they are opened in: a suffix that counts up
            # keeps a second run (evaluate right after fit) from overwriting the first's.
            suffix = f".{os.getpid()}.{next(_opened):06d}"
            self._writers[which] = self._writer_class(os.path.join(self.log_dir, which),
                                                      filename_suffix=suffix)
        return self._writers[which]

    def _close(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def _optimizer_step(self):
        """Steps the optimizer has taken (Keras' ``optimizer.iterations``)."""
        return int(self.model.get_train_state()["step"])

    # -- training -----------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._in_fit = True
        self._steps = self._last_batch_write = self._batches = 0
        self._first_step = self._optimizer_step()
        # Metadata is read and checked now: a wrong name or file fails before training.
        self._embeddings = self._embedding_layers() if self.embeddings_freq else []

    def on_train_end(self, logs=None):
        self._in_fit = False
        self._stop_trace()
        self._close()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self._steps

    # -- profiling ----------------------------------------------------------------------
    def on_train_batch_begin(self, batch, logs=None):
        self._batches += 1
        if self.profile_batch is None:
            return
        if self._batches == self.profile_batch[0]:
            try:
                jax.profiler.start_trace(os.path.join(self.log_dir, "train"))
                self._tracing = True
            except RuntimeError as e:  # another trace is running: as Keras, not fatal
                warnings.warn(f"TensorBoard: could not start the profiler: {e}")
        if self._tracing:
            self._annotation = jax.profiler.TraceAnnotation(f"Profiled batch {batch}")
            self._annotation.__enter__()

    def _stop_trace(self):
        if self._annotation is not None:
            self._annotation.__exit__(None, None, None)
            self._annotation = None
        if self._tracing:
            self._tracing = False
            jax.profiler.stop_trace()

    def on_train_batch_end(self, batch, logs=None):
        if self._tracing:
            self._annotation.__exit__(None, None, None)
            self._annotation = None
            if self._batches >= self.profile_batch[1]:
                if logs is not None:
                    dict(logs)  # reading the logs waits for the traced steps to finish
                self._stop_trace()
        # With steps_per_execution=N this runs once per N steps, ``batch`` the last one.
        self._steps = self._epoch_start + batch + 1
        if self.update_freq == "epoch" or logs is None or \
                self._steps - self._last_batch_write < self.update_freq:
            return
        self._last_batch_write = self._steps
        writer = self._writer("train")
        for name, value in logs.items():
            writer.add_scalar(f"batch_{name}", float(value), self._steps)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        try:
            train["learning_rate"] = self.model.get_learning_rate()
        except TypeError:  # an optax optimizer whose rate cannot be read
            pass
        writer = self._writer("train")
        for name, value in train.items():
            writer.add_scalar(f"epoch_{name}", float(value), epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for weight in self.model.weights:
                value = np.asarray(weight.value)
                writer.add_histogram(f"{weight.path}/histogram", value, epoch, bins="tensorflow")
                images = _weight_images(value) if self.write_images else None
                if images is not None:  # tensorboardX's own add_* write summaries so
                    writer._get_file_writer().add_summary(
                        _image_summary(f"{weight.path}/image", images), epoch)
        if self.embeddings_freq and epoch % self.embeddings_freq == 0:
            for layer, labels, header in self._embeddings:
                writer.add_embedding(np.asarray(layer.weights[0].value), labels,
                                     global_step=epoch, tag=layer.name, metadata_header=header)
        val = {k[len("val_"):]: v for k, v in logs.items() if k.startswith("val_")}
        if val:
            val_writer = self._writer("validation")
            for name, value in val.items():
                val_writer.add_scalar(f"epoch_{name}", float(value), epoch)
            val_writer.flush()
        writer.flush()

    def _embedding_layers(self):
        """The model's ``Embedding`` layers, each with its labels and header (or ``None``)."""
        from ..layers import Embedding

        layers = [layer for layer in self.model.layers if isinstance(layer, Embedding)]
        meta = self.embeddings_metadata
        if not isinstance(meta, dict):
            meta = {layer.name: meta for layer in layers}
        unknown = set(meta) - {layer.name for layer in layers}
        if unknown:
            raise ValueError(f"TensorBoard: embeddings_metadata names {sorted(unknown)}, which "
                             f"are not Embedding layers of the model (those are "
                             f"{[layer.name for layer in layers]}).")
        out = []
        for layer in layers:
            path = meta.get(layer.name)
            labels, header = _read_metadata(path) if path is not None else (None, None)
            rows = layer.weights[0].shape[0]
            if labels is not None and len(labels) != rows:
                raise ValueError(f"TensorBoard: embeddings_metadata file {path!r} has "
                                 f"{len(labels)} labels for the {rows} rows of the "
                                 f"embeddings of layer {layer.name!r}.")
            out.append((layer, labels, header))
        return out

    # -- evaluation, in fit or alone ------------------------------------------------------
    def on_test_end(self, logs=None):
        if not logs:
            return
        step = self._first_step + self._steps if self._in_fit else self._optimizer_step()
        writer = self._writer("validation")
        for name, value in logs.items():
            writer.add_scalar(f"evaluation_{name}_vs_iterations", float(value), step)
        writer.flush()
        if not self._in_fit:
            self._close()
