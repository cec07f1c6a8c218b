#!/usr/bin/env python3
"""Baseline for procshare's benchmark: CPython's multiprocessing.Manager().

This process is a client of the manager's server process (as every user of
Manager() is): each proxy call is one round trip over the manager's socket.
Measures, each for a fixed time budget after a warm-up, the median of `reps`
repetitions (each the median rate of its ~1 ms batches, as _harness.ts), in
operations per second:

  dict_get   d.get(key)                   (a dict of 1000 string keys)
  dict_set   d[key] = i
  queue_pair q.put(i); q.get()             (one put and one get per op)
  lock_pair  l.acquire(); l.release()      (one acquire and one release per op)

Prints one JSON object on stdout:
  {"python": "3.11.7", "start_method": "fork", "budget_s": 0.5, "reps": 3,
   "results": {"dict_get": {"median": 41234.0, "samples": [...]}, ...}}

Usage: python3 python_manager.py [--budget SECONDS] [--warmup SECONDS] [--reps N]
"""
import argparse
import json
import multiprocessing
import platform
import time

KEYS = ["key:%d" % i for i in range(1000)]


def median(xs):
    ordered = sorted(xs)
    return ordered[(len(ordered) - 1) // 2]


def timed(op, budget, warmup, reps):
    """Warm-up for `warmup` seconds, then `reps` repetitions of `budget` seconds.

    As in _harness.ts: op(n) runs in batches of about a millisecond (the batch
    size is calibrated on the fastest of three tries), a repetition's rate is
    the median of its batches' rates, and the figure the median of the
    repetitions.
    """
    batch = 1
    while True:
        dt = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            op(batch)
            dt = min(dt, time.perf_counter() - t0)
        if dt >= 0.001 or batch >= 1 << 20:
            break
        batch *= 2

    def run_for(seconds):
        rates = []
        start = t = time.perf_counter()
        while t - start < seconds:
            op(batch)
            now = time.perf_counter()
            rates.append(batch / (now - t))
            t = now
        return median(rates)

    run_for(warmup)
    samples = [run_for(budget) for _ in range(reps)]
    return {"median": median(samples), "samples": samples}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=0.5)
    parser.add_argument("--warmup", type=float, default=0.15)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()

    with multiprocessing.Manager() as m:
        d = m.dict({k: i for i, k in enumerate(KEYS)})
        q = m.Queue()
        lock = m.Lock()
        state = {"i": 0}

        def dict_get(n):
            i = state["i"]
            get = d.get
            for j in range(i, i + n):
                get(KEYS[j % 1000])
            state["i"] = i + n

        def dict_set(n):
            i = state["i"]
            for j in range(i, i + n):
                d[KEYS[j % 1000]] = j
            state["i"] = i + n

        def queue_pair(n):
            put, get = q.put, q.get
            for j in range(n):
                put(j)
                get()

        def lock_pair(n):
            acquire, release = lock.acquire, lock.release
            for _ in range(n):
                acquire()
                release()

        results = {}
        for name, op in (("dict_get", dict_get), ("dict_set", dict_set), ("queue_pair", queue_pair), ("lock_pair", lock_pair)):
            results[name] = timed(op, args.budget, args.warmup, args.reps)

    print(json.dumps({
        "python": platform.python_version(),
        "start_method": multiprocessing.get_start_method(),
        "budget_s": args.budget,
        "reps": args.reps,
        "results": results,
    }))


if __name__ == "__main__":
    main()
