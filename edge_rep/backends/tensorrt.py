"""TensorRT backend: runs a ``.engine`` built on this device by ``edge-rep export`` (TensorRT 10 API).

Name-based I/O (``num_io_tensors``/``get_tensor_name``/``set_tensor_address``) and ``execute_async_v3``
on a CUDA stream; device memory through cuda-python's runtime API. Never imports torch. The ``trt``
and ``cudart`` modules can be injected, which is how the tests drive it without a GPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import EdgeRepError
from ..modelspec import ModelMeta
from .base import Backend, check_hash

JETPACK_HINT = ("TensorRT's Python bindings come with JetPack: 'sudo apt install python3-libnvinfer' "
                "(JetPack 6.x: TensorRT 10.3), then create the venv with 'python3 -m venv --system-site-packages "
                ".venv' so it sees them; 'pip install tensorrt' does not work on Jetson (Tegra)")
CUDA_HINT = ("the TensorRT backend needs cuda-python for device memory: 'pip install cuda-python' with the "
             "major version of the device's CUDA (JetPack 6: 'cuda-python>=12,<13'); or use --backend onnxruntime")


def import_tensorrt():
    """The tensorrt module, or an EdgeRepError saying how to get it."""
    try:
        import tensorrt as trt
    except ImportError:
        raise EdgeRepError(f"the Python module 'tensorrt' is not installed; {JETPACK_HINT}") from None
    return trt


def import_cudart():
    """cuda-python's runtime API (module path changed in cuda-python 12.6: cuda.bindings.runtime)."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError:
            raise EdgeRepError(CUDA_HINT) from None
    return cudart


def cuda_call(cudart, result):
    """Unpack a cuda-python ``(err, value...)`` tuple, turning an error into an EdgeRepError."""
    err, rest = result[0], result[1:]
    if err != cudart.cudaError_t.cudaSuccess:
        raise EdgeRepError(f"CUDA call failed ({err}); check the GPU with nvidia-smi or tegrastats")
    return rest[0] if len(rest) == 1 else (rest or None)


def gpu_name(cudart=None) -> str:
    """Name of CUDA device 0, or "unknown" when cuda-python or the device is not there."""
    try:
        cudart = cudart or import_cudart()
        props = cuda_call(cudart, cudart.cudaGetDeviceProperties(0))
        name = props.name
        return (name.decode(errors="replace") if isinstance(name, bytes) else str(name)).rstrip("\x00").strip()
    except Exception:  # noqa: BLE001 - the name is informative only
        return "unknown"


def engine_info(meta: ModelMeta, path: Path) -> dict:
    """The ``tensorrt`` block of an engine's sidecar (written by edge_rep.trt_build)."""
    info = meta.extra.get("tensorrt")
    if not isinstance(info, dict) or "version" not in info:
        raise EdgeRepError(f"{path}: its sidecar has no TensorRT build record; rebuild the engine with "
                           "'edge-rep export --checkpoint CKPT --out DIR' on this device")
    return info


class TensorRTBackend(Backend):
    name = "tensorrt"

    def __init__(self, path: str | Path, meta: ModelMeta, trt=None, cudart=None):
        self.path, self.meta = Path(path), meta
        trt = trt or import_tensorrt()
        self.trt, self.version = trt, trt.__version__
        info = engine_info(meta, self.path)
        if str(info["version"]) != trt.__version__:
            raise EdgeRepError(f"{self.path}: engine was built with TensorRT {info['version']} but this device has "
                               f"{trt.__version__}; engines only run where they were built: rebuild it here "
                               "with 'edge-rep export'")
        self.precision = str(info.get("precision", "fp32"))
        self.cudart = cudart or import_cudart()
        here = gpu_name(self.cudart)
        built_on = str(info.get("gpu", "unknown"))
        if "unknown" not in (here, built_on) and here != built_on:
            raise EdgeRepError(f"{self.path}: engine was built on GPU '{built_on}' but this is '{here}'; "
                               "rebuild it here with 'edge-rep export'")
        onnx_sha = meta.extra.get("onnx", {}).get("sha256")
        if onnx_sha and info.get("onnx_sha256") and onnx_sha != info["onnx_sha256"]:
            raise EdgeRepError(f"{self.path}: engine was built from another ONNX export than the one its sidecar "
                               "describes; rebuild it with 'edge-rep export'")
        blob = check_hash(self.path, info.get("sha256"), "engine hash", meta)
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(blob)
        if self.engine is None:
            raise EdgeRepError(f"{self.path}: TensorRT cannot deserialize the engine (corrupt, or built for another "
                               "TensorRT or GPU); rebuild it on this device with 'edge-rep export'")
        self._check_io()
        self.context = self.engine.create_execution_context()
        self._stream = cuda_call(self.cudart, self.cudart.cudaStreamCreate())
        self._device: dict[str, int] = {}
        for name in self._inputs + self._outputs:  # room for the largest batch, allocated once
            shape = (self.max_batch or 1, *self._shapes[name][1:])
            nbytes = int(np.prod(shape)) * np.dtype(self._dtypes[name]).itemsize
            self._device[name] = cuda_call(self.cudart, self.cudart.cudaMalloc(nbytes))

    def _check_io(self) -> None:
        trt, eng = self.trt, self.engine
        want_in, want_out = self.meta.input_shapes(1), self.meta.output_shapes(1)
        self._inputs, self._outputs, self._shapes, self._dtypes = [], [], {}, {}
        for i in range(eng.num_io_tensors):
            name = eng.get_tensor_name(i)
            is_input = eng.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            (self._inputs if is_input else self._outputs).append(name)
            self._shapes[name] = tuple(eng.get_tensor_shape(name))
            self._dtypes[name] = np.dtype(trt.nptype(eng.get_tensor_dtype(name)))
        if set(self._inputs) != set(want_in) or set(self._outputs) != set(want_out):
            raise EdgeRepError(f"{self.path}: engine I/O {sorted(self._inputs + self._outputs)} does not match its "
                               f"sidecar's {sorted([*want_in, *want_out])}; rebuild the engine from the matching ONNX")
        for name, shape in {**want_in, **want_out}.items():
            got = self._shapes[name]
            if len(got) != len(shape) or got[1:] != shape[1:]:
                raise EdgeRepError(f"{self.path}: '{name}' is {list(got)} in the engine but {['batch', *shape[1:]]} in "
                                   "its sidecar; rebuild the engine from the matching ONNX")
        first = self._inputs[0]
        if self._shapes[first][0] == -1:   # dynamic batch: the optimisation profile bounds it
            self.max_batch = int(eng.get_tensor_profile_shape(first, 0)[2][0])
        else:
            self.max_batch = int(self._shapes[first][0])

    def _run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        cudart, ctx, stream = self.cudart, self.context, self._stream
        h2d, d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        batch = next(iter(inputs.values())).shape[0]
        if self._shapes[self._inputs[0]][0] != -1 and batch != self.max_batch:
            raise EdgeRepError(f"{self.path}: engine takes a fixed batch of {self.max_batch}, got {batch}")
        host = {}
        for name in self._inputs:
            a = np.ascontiguousarray(inputs[name], dtype=self._dtypes[name])
            host[name] = a   # kept alive until the stream is synchronised
            ctx.set_input_shape(name, a.shape)
            cuda_call(cudart, cudart.cudaMemcpyAsync(self._device[name], a.ctypes.data, a.nbytes, h2d, stream))
        for name in self._inputs + self._outputs:
            ctx.set_tensor_address(name, self._device[name])
        if not ctx.execute_async_v3(int(stream)):   # cuda-python's cudaStream_t -> the raw handle
            raise EdgeRepError(f"{self.path}: TensorRT execution failed; see the TensorRT log above")
        out = {}
        for name in self._outputs:
            o = np.empty(tuple(ctx.get_tensor_shape(name)), dtype=self._dtypes[name])
            cuda_call(cudart, cudart.cudaMemcpyAsync(o.ctypes.data, self._device[name], o.nbytes, d2h, stream))
            out[name] = o
        cuda_call(cudart, cudart.cudaStreamSynchronize(stream))
        return {k: v.astype(np.float32, copy=False) for k, v in out.items()}

    def close(self) -> None:
        """Free device memory and the stream (also done when the backend is garbage-collected)."""
        for ptr in getattr(self, "_device", {}).values():
            self.cudart.cudaFree(ptr)
        self._device = {}
        if getattr(self, "_stream", None) is not None:
            self.cudart.cudaStreamDestroy(self._stream)
            self._stream = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown may have torn cudart down already
            pass
