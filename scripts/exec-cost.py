#!/usr/bin/env python3
"""Paired exec cost of two binaries: runs `A ARGS` and `B ARGS` N times each, alternating
which goes first, and prints per-binary medians and the paired difference.
usage: scripts/exec-cost.py A B [N=2000] [ARGS... (default --version)]"""
import os
import statistics
import sys
import time


def main():
    bins = sys.argv[1:3]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    args = sys.argv[4:] or ["--version"]
    devnull = os.open("/dev/null", os.O_WRONLY)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
    res = {b: [] for b in bins}
    for i in range(n):
        for b in bins if i % 2 == 0 else bins[::-1]:
            t = time.perf_counter_ns()
            pid = os.posix_spawn(b, [b] + args, os.environ, file_actions=actions)
            os.waitpid(pid, 0)
            res[b].append(time.perf_counter_ns() - t)
    for b in bins:
        v = res[b]
        print(f"{b}: median {statistics.median(v) / 1000:.1f} us, mean {statistics.mean(v) / 1000:.1f} us")
    pairs = [a - b for a, b in zip(res[bins[0]], res[bins[1]])]
    print(f"paired difference (first - second): median {statistics.median(pairs) / 1000:.1f} us,"
          f" mean {statistics.mean(pairs) / 1000:.1f} us over {n} pairs")


main()
