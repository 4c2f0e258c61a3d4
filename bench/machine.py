"""A description of the machine the benchmarks ran on."""

from __future__ import annotations

import datetime
import os
import platform


def describe() -> str:
    """Return the machine as a Markdown list: CPUs, model, memory, kernel, Python, date."""
    model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_kb = 0
    with open("/proc/meminfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            "Machine:",
            "",
            f"- CPUs (`nproc`): {len(os.sched_getaffinity(0))} × {model}",
            f"- memory: {memory_kb / 1_048_576:.1f} GiB",
            f"- kernel: {platform.system()} {platform.release()}",
            f"- Python: {platform.python_version()} ({platform.python_implementation()})",
            f"- date: {now}",
        ]
    )
