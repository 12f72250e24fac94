"""What ``jkeras.serve`` stands on: a model's served signatures (``signature``), the SavedModel
(``saved_model``, needs ``jkeras[export]``), the TF-free artifact (``artifact``) and the REST
server behind ``python -m jkeras.serve`` (``repository``, ``rest``, ``batching``, ``cli``;
needs ``jkeras[serve]``)."""
