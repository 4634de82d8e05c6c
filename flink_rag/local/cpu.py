"""What a crash report needs to know about this CPU: its model and the instruction sets a
native build may have used (a build for one of them dies on a CPU without it)."""

from __future__ import annotations

from pathlib import Path

# The flags that separate x86-64 servers of the last decade; AVX2/FMA/F16C is our baseline.
FLAGS_THAT_MATTER = (
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "avx_vnni",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
)


def cpu_summary(cpuinfo: str | None = None) -> str:
    """`Intel(R) Xeon(R) Processor [avx avx2 fma f16c avx512f amx_tile ...]`."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return "unknown CPU"
    model, flags = "unknown CPU", set[str]()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model == "unknown CPU":
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    present = [f for f in FLAGS_THAT_MATTER if f in flags]
    missing = [f for f in ("avx2", "fma", "f16c") if f not in flags]
    text = f"{model} [{' '.join(present) or 'no AVX'}]"
    if missing:
        text += f" lacks the baseline's {' '.join(missing)}"
    return text
