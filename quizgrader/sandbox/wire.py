"""The bytes that cross between the grader and the learner's process.

A message is a JSON header plus the raw bytes of every tensor in it. Decoding builds only plain
Python values and plain tensors, so nothing the learner's process sends can run code in the
grader (unlike pickle), and a tensor subclass arrives as an ordinary tensor.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import torch

_DTYPES = {
    str(dt).removeprefix("torch."): dt
    for dt in (
        torch.float16,
        torch.bfloat16,
        torch.float32,
        torch.float64,
        torch.complex64,
        torch.complex128,
        torch.uint8,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.bool,
    )
}


class WireError(ValueError):
    """A message that does not decode: the other side sent something outside the format."""


class Generator:
    """A seeded torch.Generator, named on the wire by its seed and built on arrival."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def __repr__(self) -> str:
        return f"torch.Generator().manual_seed({self.seed})"


def encode(obj: Any) -> bytes:
    blobs: list[bytes] = []

    def enc(x: Any) -> Any:
        if x is None or isinstance(x, (bool, int, str)):
            return x
        if isinstance(x, float):
            return {"f": repr(x)}  # JSON has no inf/nan
        if isinstance(x, torch.Tensor):
            t = x.detach().to("cpu").contiguous()
            if type(t) is not torch.Tensor:
                t = t.as_subclass(torch.Tensor)
            name = str(t.dtype).removeprefix("torch.")
            if name not in _DTYPES:
                raise WireError(f"tensors of dtype {t.dtype} cannot be sent")
            raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
            blobs.append(raw)
            return {"t": len(blobs) - 1, "dtype": name, "shape": list(t.shape)}
        if isinstance(x, torch.dtype):
            return {"dtype": str(x).removeprefix("torch.")}
        if isinstance(x, torch.device):
            return {"device": str(x)}
        if isinstance(x, torch.Size):
            return {"list": [int(i) for i in x]}
        if isinstance(x, Generator):
            return {"generator": x.seed}
        if isinstance(x, torch.Generator):  # sent back (an argument after a call): named by its seed
            return {"generator": x.initial_seed()}
        if isinstance(x, (list, tuple)):
            return {"list" if isinstance(x, list) else "tuple": [enc(i) for i in x]}
        if isinstance(x, dict):
            return {"dict": [[enc(k), enc(v)] for k, v in x.items()]}
        raise WireError(f"a value of type {type(x).__name__} cannot be sent")

    header = json.dumps(enc(obj)).encode()
    parts = [struct.pack("<II", len(header), len(blobs)), header]
    for raw in blobs:
        parts += [struct.pack("<Q", len(raw)), raw]
    return b"".join(parts)


def decode(data: bytes) -> Any:
    try:
        n_header, n_blobs = struct.unpack_from("<II", data, 0)
        pos = 8
        header = json.loads(data[pos : pos + n_header])
        pos += n_header
        blobs = []
        for _ in range(n_blobs):
            (size,) = struct.unpack_from("<Q", data, pos)
            pos += 8
            blobs.append(data[pos : pos + size])
            pos += size
        return _dec(header, blobs)
    except WireError:
        raise
    except Exception as e:  # noqa: BLE001 - any malformed message is one kind of error
        raise WireError(f"malformed message: {e}") from None


def _dec(x: Any, blobs: list[bytes]) -> Any:
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if not isinstance(x, dict) or len(x) == 0:
        raise WireError(f"unexpected value {x!r:.80}")
    if "t" in x:
        dtype = _DTYPES[x["dtype"]]
        shape = [int(s) for s in x["shape"]]
        raw = blobs[x["t"]]
        numel = math.prod(shape)
        if min(shape, default=0) < 0 or len(raw) != numel * dtype.itemsize:  # sizes are checked, not trusted
            raise WireError(
                f"a tensor of shape {shape[:8]} and dtype {x['dtype']} sent with {len(raw)} bytes"
            )
        if not raw:
            return torch.empty(shape, dtype=dtype)
        flat = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype)
        return flat.reshape(shape)
    if "f" in x:
        return float(x["f"])
    if "dtype" in x:
        return _DTYPES[x["dtype"]]
    if "device" in x:
        return torch.device(x["device"])
    if "generator" in x:
        return torch.Generator().manual_seed(int(x["generator"]))
    if "list" in x:
        return [_dec(i, blobs) for i in x["list"]]
    if "tuple" in x:
        return tuple(_dec(i, blobs) for i in x["tuple"])
    if "dict" in x:
        return {_dec(k, blobs): _dec(v, blobs) for k, v in x["dict"]}
    raise WireError(f"unexpected value {x!r:.80}")
