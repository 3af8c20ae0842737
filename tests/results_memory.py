"""Measure the memory ``fetch_results`` takes beyond the frame it returns, in a process of its
own: ``python results_memory.py URL API_KEY SLUG_FILE`` prints the figures as JSON
(SLUG_FILE: one run slug a line).

``growth`` is the process's peak resident size during the call (``VmHWM``, reset just before
it where Linux allows) minus its resident size just before it (``VmRSS``): the memory the call
took at its worst, whatever the process held before. ``ru_maxrss`` would not do: it keeps the
peak of the process that started this one.
"""

import gc
import json
import sys

import coreclaw_frames as ccf


def status_bytes(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak():
    """Make ``VmHWM`` the current resident size (Linux >= 4.0); a no-op where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass


def main(url, api_key, slug_file):
    with open(slug_file) as file:
        slugs = file.read().split()
    with ccf.Client(api_key=api_key, base_url=url) as client:
        ccf.fetch_results(slugs[:20], client=client, progress=False)  # warm up every code path
        gc.collect()
        reset_peak()
        before = status_bytes("VmRSS")
        frame = ccf.fetch_results(slugs, client=client, progress=False)
        growth = status_bytes("VmHWM") - before
    size = int(frame.memory_usage(deep=True).sum())
    print(json.dumps({"runs": len(slugs), "rows": len(frame), "growth": growth, "frame": size}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
