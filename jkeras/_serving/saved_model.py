"""The SavedModel for TensorFlow Serving (jax2tf), and reading one back for the server."""
import jax
import numpy as np

from .signature import Inference, Signature, TensorInfo, poly, write_dir


def tensorflow():
    try:
        import tensorflow as tf
        from jax.experimental import jax2tf
    except ImportError as err:
        raise ImportError("SavedModel export needs TensorFlow: pip install 'jkeras[export]' "
                          f"(tensorflow-cpu). ({err})") from None
    return tf, jax2tf


def write(model, path, signatures=None, platforms=None):
    """Writes the SavedModel directory ``path`` (atomically; never over an existing one)."""
    tf, jax2tf = tensorflow()
    inference = Inference(model, signatures)
    module = tf.Module()
    module.weights = jax.tree_util.tree_map(
        lambda a: tf.Variable(np.asarray(a), trainable=False), inference.weights)
    shapes = [None] + [poly(t) for t in inference.inputs]
    specs = [tf.TensorSpec([None if d is None else d for d in t.shape], t.dtype, name=t.name)
             for t in inference.inputs]
    options = {} if platforms is None else {"native_serialization_platforms": tuple(platforms)}
    functions = {}
    for name in inference.functions:
        converted = jax2tf.convert(inference.flat(name), polymorphic_shapes=shapes,
                                   with_gradient=False, **options)
        out_names = [t.name for t in inference.outputs[name]]
        functions[name] = tf.function(_tf_serving_fn(tf, module, converted, inference.inputs,
                                                     out_names),
                                      input_signature=specs, autograph=False)
        setattr(module, f"signature_{len(functions)}", functions[name])
    write_dir(path, lambda tmp: tf.saved_model.save(module, tmp, signatures=functions))
    return path


def _tf_serving_fn(tf, module, converted, inputs, out_names):
    def serve(*xs):
        batch = tf.shape(xs[0])[0]
        checks = [tf.debugging.assert_equal(
            tf.shape(x)[0], batch, message=f"inputs have inconsistent batch sizes: "
            f"{inputs[i].name!r} and {inputs[0].name!r} must have the same dimension 0")
            for i, x in enumerate(xs[1:], 1)]
        with tf.control_dependencies(checks):
            # An empty batch runs on one row of zeros, sliced off after: the module's
            # symbolic batch must be >= 1.
            xs = [tf.cond(batch > 0, lambda x=x: tf.identity(x),
                          lambda x=x: tf.zeros(tf.concat([[1], tf.shape(x)[1:]], 0), x.dtype))
                  for x in xs]
        outs = converted(module.weights, *xs)
        return {n: o[:batch] if o.shape.rank else o for n, o in zip(out_names, outs)}
    return serve


def signatures(path):
    """``{name: Signature}`` of the SavedModel at ``path``, over NumPy arrays."""
    tf, _ = tensorflow()
    loaded = tf.saved_model.load(path)
    found = {}
    for name, fn in loaded.signatures.items():
        specs = fn.structured_input_signature[1]
        info = lambda k, s: TensorInfo(k, s.dtype.as_numpy_dtype, s.shape.as_list())
        inputs = [info(k, specs[k]) for k in sorted(specs)]
        outputs = [info(k, s) for k, s in sorted(fn.structured_outputs.items())]

        def run(named, fn=fn, loaded=loaded):  # `loaded` keeps the variables alive
            out = fn(**{k: tf.constant(v) for k, v in named.items()})
            return {k: v.numpy() for k, v in out.items()}
        found[name] = Signature(inputs, outputs, run)
    return found
