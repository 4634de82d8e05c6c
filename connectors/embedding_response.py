"""Vectors from the body of an OpenAI-compatible `/embeddings` answer, decoded once.

Asked for `encoding_format="base64"`, a provider sends each vector as the base64 of its
little-endian float32 bytes. The openai SDK turns that into pydantic-style objects and a list
of Python floats per vector, which EMBED then turns back into float32 arrays for Arrow; at a
few thousand vectors a second that round trip was most of the worker's CPU (see
docs/profile/). Reading the body here keeps each vector as the float32 array it was sent as:
the same bits as the SDK's floats, without the objects in between. Hand-written because the
SDK has no decoder that returns arrays; the request, retries and errors stay the SDK's.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import numpy as np

FLOAT32_LE = np.dtype("<f4")


def decode_base64_vector(data: str) -> np.ndarray:
    """One base64 embedding as a float32 array (read-only, like the bytes it views)."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ValueError(f"embedding is not valid base64 ({err})") from None
    if len(raw) % FLOAT32_LE.itemsize:
        raise ValueError(f"base64 embedding has {len(raw)} bytes, not a whole number of floats")
    return np.frombuffer(raw, dtype=FLOAT32_LE).astype(np.float32, copy=False)


def vectors_from_body(body: bytes | str) -> list[np.ndarray | list[float]]:
    """The vectors of an embeddings answer, in input order (`index`), base64 or float lists.

    A compatible server that ignores `encoding_format` sends float lists: they are kept as
    lists, exactly as the SDK would have returned them. Anything else raises ValueError.
    """
    try:
        doc: Any = json.loads(body)
        items = sorted(doc["data"], key=lambda item: int(item["index"]))
        values = [item["embedding"] for item in items]
    except (KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"embeddings answer without data[].index/embedding ({err!r})") from None
    out: list[np.ndarray | list[float]] = []
    for value in values:
        if isinstance(value, str):
            out.append(decode_base64_vector(value))
        elif isinstance(value, list):
            out.append([float(x) for x in value])
        else:
            raise ValueError(f"embedding is a {type(value).__name__}, not base64 or a list")
    return out
