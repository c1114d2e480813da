#!/usr/bin/env python3
"""Alternating A/B timing of whole commands: runs each binary in turn, N rounds, and
prints the best and median wall time and CPU time (user + system) of each.

    python3 benches/ab.py 10 "{bin} -q features --events E --users U --out /tmp/f.parquet" old/strata new/strata

`{bin}` in the command is replaced by each binary. Alternating spreads the machine's
drift over all builds; changes below about 3% are within this machine's noise.
"""
import os
import resource
import statistics
import subprocess
import sys
import time


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    n, template, bins = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    wall = {b: [] for b in bins}
    cpu = {b: [] for b in bins}
    for _ in range(n):
        for b in bins:
            cmd = template.replace("{bin}", b)
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            t = time.perf_counter() - t
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall[b].append(t)
            cpu[b].append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    for b in bins:
        w, c = sorted(wall[b]), sorted(cpu[b])
        print(
            f"{b}: wall best {w[0]:.3f} median {statistics.median(w):.3f} s | "
            f"cpu best {c[0]:.3f} median {statistics.median(c):.3f} s"
        )


if __name__ == "__main__":
    main()
