"""Read a CTranslate2 ``model.bin`` into numpy arrays, without the ctranslate2 package.

The layout, as CTranslate2 writes it (``python/ctranslate2/specs/model_spec.py``,
``ModelSpec._serialize``) and reads it (``src/models/model.cc``), all little-endian:

- ``uint32`` binary version (4 to 6 share the layout below);
- the spec name as a string (``uint16`` length counting a trailing NUL, the bytes, the NUL)
  and a ``uint32`` spec revision;
- ``uint32`` number of variables, then per variable: its name (string), ``uint8`` rank,
  ``rank`` x ``uint32`` dimensions, ``uint8`` type id (the order of CTranslate2's
  ``DataType`` enum: float32, int8, int16, int32, float16, bfloat16), ``uint32`` byte count,
  the bytes (row-major);
- ``uint32`` number of aliases, then per alias two strings: the alias and the variable it
  names (a tied weight such as ``decoder/projection/weight`` is stored once).

A model may be split into parts (``model.bin.part1``, ``model.bin.part2``) that are read as
one stream in order.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: binary versions whose variable records carry a type id (older ones an item size)
VERSIONS = (4, 5, 6)
#: type id -> numpy dtype; bfloat16 (5) has no numpy dtype and is widened on read
DTYPES: dict[int, np.dtype] = {0: np.dtype("<f4"), 1: np.dtype("i1"), 2: np.dtype("<i2"),
                               3: np.dtype("<i4"), 4: np.dtype("<f2"), 5: np.dtype("<u2")}
BFLOAT16 = 5


class ModelBinError(ValueError):
    """A file that is not a CTranslate2 model this reader understands."""


@dataclass(frozen=True)
class CT2Model:
    """The variables of a CTranslate2 model: ``variables`` by name (aliases resolved into
    their own entries), the spec name and revision, and the binary version."""

    spec: str
    revision: int
    binary_version: int
    variables: dict[str, np.ndarray]


class _Stream:
    def __init__(self, data: bytes, where: str):
        self.data = memoryview(data)
        self.pos = 0
        self.where = where

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise ModelBinError(f"{self.where}: truncated at byte {self.pos} (wanted {n} more "
                                f"bytes of {len(self.data)})")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.unpack("H")
        if n == 0:
            raise ModelBinError(f"{self.where}: empty string at byte {self.pos - 2}")
        return bytes(self.take(n)[:-1]).decode("utf-8")


def read_model_bin(paths: Path | str | Sequence[Path | str]) -> CT2Model:
    """Every variable of a CTranslate2 model file (or of its parts, in order).

    Scalars come back as 0-d arrays; bfloat16 variables as float32 (exact).

    Raises
    ------
    ModelBinError
        An unknown binary version or type id, a payload whose size does not match its
        shape, a truncated file or bytes after the alias table.
    """
    parts = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    where = " + ".join(str(p) for p in parts)
    stream = _Stream(b"".join(p.read_bytes() for p in parts), where)
    version = stream.unpack("I")
    if version not in VERSIONS:
        raise ModelBinError(f"{where}: CTranslate2 binary version {version} is not supported "
                            f"(this reader knows {', '.join(map(str, VERSIONS))})")
    spec = stream.string()
    revision = stream.unpack("I")
    variables: dict[str, np.ndarray] = {}
    for _ in range(stream.unpack("I")):
        name = stream.string()
        rank = stream.unpack("B")
        shape = tuple(stream.unpack("I") for _ in range(rank))
        type_id = stream.unpack("B")
        size = stream.unpack("I")
        if type_id not in DTYPES:
            raise ModelBinError(f"{where}: variable {name} has unknown type id {type_id}")
        dtype = DTYPES[type_id]
        if size != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
            raise ModelBinError(f"{where}: variable {name} of shape {shape} has {size} bytes, "
                                f"not {int(np.prod(shape)) * dtype.itemsize}")
        array = np.frombuffer(stream.take(size), dtype=dtype).reshape(shape).copy()
        if type_id == BFLOAT16:  # the high half of a float32
            array = (array.astype(np.uint32) << 16).view(np.float32)
        variables[name] = array
    for _ in range(stream.unpack("I")):
        alias, target = stream.string(), stream.string()
        if target not in variables:
            raise ModelBinError(f"{where}: alias {alias} names a missing variable {target}")
        variables[alias] = variables[target]
    if stream.pos != len(stream.data):
        raise ModelBinError(f"{where}: {len(stream.data) - stream.pos} unread bytes at the end")
    return CT2Model(spec, revision, version, variables)
