"""What an ONNX session declares as inputs and outputs, in a form fit for error messages.

Users bring their own detector files; when one does not fit the configured layout the
operator needs one line that names the file, what the layout expects and what the file
actually has, instead of an onnxruntime shape error on the first frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.model_files import ModelFileError

_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
}


class ModelLayoutError(ModelFileError):
    """The model's inputs/outputs do not fit the configured ``detector.layout``."""


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """Name, numpy dtype name and shape (``None`` for a dynamic axis) of one tensor."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]

    def __str__(self) -> str:
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name} {self.dtype}[{dims}]"


def _info(node: Any) -> TensorInfo:
    shape = node.shape if isinstance(node.shape, list | tuple) else []
    dims = tuple(d if isinstance(d, int) and d > 0 else None for d in shape)
    return TensorInfo(node.name, _ORT_TYPES.get(node.type, node.type), dims)


@dataclass(frozen=True, slots=True)
class ModelIO:
    """The declared inputs and outputs of an opened model."""

    path: Path
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]

    @classmethod
    def of(cls, session: Any, path: Path) -> ModelIO:
        return cls(
            path,
            tuple(_info(n) for n in session.get_inputs()),
            tuple(_info(n) for n in session.get_outputs()),
        )

    def describe(self) -> str:
        ins = "; ".join(str(t) for t in self.inputs)
        outs = "; ".join(str(t) for t in self.outputs[:4])
        if len(self.outputs) > 4:
            outs += f" (+{len(self.outputs) - 4} more)"
        return f"inputs {ins}; outputs {outs}"

    def error(self, layout: str, expected: str, hint: str = "") -> ModelLayoutError:
        """One-line error: file, layout, what it expects, what the file has (+ a hint)."""
        tail = f" ({hint})" if hint else ""
        return ModelLayoutError(
            f"{self.path}: does not fit detector.layout {layout!r}: expected {expected}; "
            f"the file has {self.describe()}{tail}"
        )
