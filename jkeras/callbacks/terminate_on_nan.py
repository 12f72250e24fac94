"""``TerminateOnNaN``: stops ``fit`` at the first non-finite loss."""
import math

from .base import Callback


class TerminateOnNaN(Callback):
    """Stops training as soon as the loss is NaN or infinite, keeping the last good weights.

    With this callback ``fit`` compiles its step to leave the training state unchanged
    when a step's loss is not finite, so the model ends with the weights from before
    the first bad step. It reads the loss after every step (one synchronisation each).

    >>> stop_on_nan = TerminateOnNaN()
    """

    skips_nonfinite_steps = True  # read by fit: guard the step against a non-finite loss

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True
