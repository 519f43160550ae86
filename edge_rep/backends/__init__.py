"""Runtime backends behind one interface (``Backend.run``): TensorRT, ONNX Runtime, PyTorch.

Importing this package never imports torch or tensorrt; ``load_backend`` imports only the runtime it picks.
"""

from .base import KINDS, Backend, blank_inputs, check_inputs, input_names, load_backend, resolve

__all__ = ["KINDS", "Backend", "blank_inputs", "check_inputs", "input_names", "load_backend", "resolve"]
