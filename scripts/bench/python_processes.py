#!/usr/bin/env python3
"""Baselines of section C of procshare's benchmark: multiprocessing between OS processes.

Every case runs its parties in separate processes (this process, the
Manager's server process, or children started with multiprocessing's default
start method). Each timing process measures as python_manager.py does (the
median of `reps` repetitions, each the median rate of its ~1 ms batches);
processes that run together start at a Barrier and, once done timing, keep
going until all the others are done (a `done` counter), as
workers/_proc.ts does:

  dict_get       Manager().dict() d.get(key) from this process (a client of
                 the manager's server process); 1000 string keys
  queue_stream   mp.Queue(1000): a producer process puts 0, 1, 2, …; a
                 consumer process times q.get() (items/s)
  lock_pingpong  two mp.Lock used as binary semaphores, both taken first: one
                 process releases `ping` and takes `pong`, the other takes
                 `ping` and releases `pong` (round trips/s; 2 hand-offs each)
  lock_pairs     uncontended mp.Lock acquire(); release() pairs in one
                 process (a POSIX semaphore in shared memory)
  value_add      mp.Value('i'): `with v.get_lock(): v.value += 1` from 2
                 processes (sum of their rates; the total is checked)
  seed_manager   seed 000: Manager().dict() of N string keys read round-robin
                 by 4 processes (sum of their rates)
  seed_shm       seed 000's shared immutable hash: the same keys in an
                 open-addressing table in multiprocessing.shared_memory, read
                 by 4 processes (sum of their rates)

Prints one JSON object on stdout:
  {"python": "3.11.7", "start_method": "fork", "results": {"dict_get":
   {"median": 41234.0, "samples": [...]}, ...}, "per_process": {...}}

Usage: python3 python_processes.py [--budget S] [--warmup S] [--reps N] [--keys N] [--only CASE,...]
"""
import argparse
import json
import multiprocessing as mp
import platform
import os
import struct
import sys
import time
import zlib
from multiprocessing import shared_memory

sys.dont_write_bytecode = True  # no __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from python_manager import median, timed  # noqa: E402

READERS = 4
EMPTY = 0xFFFFFFFF
U32 = struct.Struct("<I")


def keys_of(n):
    return ["key:%d" % i for i in range(n)]


def value_of(i):
    return "value:%d" % i


def together(op, args, barrier, done, parties):
    """Times op in this process with the others, as workers/_proc.ts does.

    Start at the barrier; the same schedule by this process's clock (warm-up,
    then `reps` windows of `budget` seconds, each window's rate being
    operations / its whole time, so that time spent waiting for a CPU counts);
    once done, go on until all the others are done.
    """
    count = [0]

    def counted(n):
        count[0] += n
        op(n)

    barrier.wait()
    batch = 1
    start = t = time.perf_counter()
    while t - start < args.warmup:
        counted(batch)
        now = time.perf_counter()
        if now - t < 0.0005 and batch < 1 << 16:
            batch *= 2
        t = now
    samples = []
    for _ in range(args.reps):
        t0 = t = time.perf_counter()
        n = 0
        while t - t0 < args.budget:
            counted(batch)
            n += batch
            t = time.perf_counter()
        samples.append(n / (t - t0))
    with done.get_lock():
        done.value += 1
    while done.value < parties:
        counted(batch)
    return {"median": median(samples), "samples": samples}, count[0]


# ---- processes ----

def dict_reader(d, keys, start, args, barrier, done, out):
    n_keys = len(keys)
    state = {"i": start}

    def op(n):
        i = state["i"]
        get = d.get
        for j in range(i, i + n):
            get(keys[j % n_keys])
        state["i"] = i + n

    out.put(together(op, args, barrier, done, READERS))


def shm_reader(name, slots, keys, start, args, barrier, done, out):
    table = ShmDict.attach(name, slots)
    n_keys = len(keys)
    state = {"i": start}

    def op(n):
        i = state["i"]
        get = table.get
        for j in range(i, i + n):
            if get(keys[j % n_keys]) is None:
                raise KeyError(keys[j % n_keys])
        state["i"] = i + n

    try:
        out.put(together(op, args, barrier, done, READERS))
    finally:
        table.close()


def value_adder(v, args, barrier, done, out):
    lock = v.get_lock()

    def op(n):
        for _ in range(n):
            with lock:
                v.value += 1

    out.put(together(op, args, barrier, done, 2))


def queue_producer(q):
    k = 0
    while True:
        q.put(k)
        k += 1


def queue_consumer(q, args, out):
    state = {"next": 0}

    def op(n):
        get = q.get
        nxt = state["next"]
        for _ in range(n):
            k = get()
            if k != nxt:
                raise ValueError("expected %d: received %d" % (nxt, k))
            nxt += 1
        state["next"] = nxt

    out.put(timed(op, args.budget, args.warmup, args.reps))


def lock_echo(ping, pong):
    while True:
        ping.acquire()
        pong.release()


# ---- seed 000's shared immutable dict, on multiprocessing.shared_memory ----

class ShmDict:
    """Seed 000's shared_immutable_dict: linear probing over [offset] slots, then length-prefixed keys and values.

    Built once by the creator; readers attach by name. str keys and values
    (UTF-8), Python's hash replaced by a stable one (zlib.crc32) so that every
    process finds the same slot whatever its hash seed.
    """

    def __init__(self, shm, slots):
        self.shm, self.slots, self.buf = shm, slots, shm.buf

    @staticmethod
    def slot(k, slots):
        return zlib.crc32(k) & (slots - 1)

    @classmethod
    def create(cls, items):
        slots = 1 << (len(items) * 3).bit_length()
        table = [EMPTY] * slots
        blob = bytearray()
        base = slots * 4
        for k, v in items:
            kb, vb = k.encode(), v.encode()
            h = cls.slot(kb, slots)
            while table[h] != EMPTY:
                h = (h + 1) & (slots - 1)
            table[h] = base + len(blob)
            blob += U32.pack(len(kb)) + kb + U32.pack(len(vb)) + vb
        shm = shared_memory.SharedMemory(create=True, size=base + len(blob))
        for h, off in enumerate(table):
            U32.pack_into(shm.buf, h * 4, off)
        shm.buf[base:base + len(blob)] = blob
        return cls(shm, slots)

    @classmethod
    def attach(cls, name, slots):
        return cls(shared_memory.SharedMemory(name=name), slots)

    def get(self, k, default=None):
        kb = k.encode()
        buf, mask = self.buf, self.slots - 1
        h = self.slot(kb, self.slots)
        while True:
            off = U32.unpack_from(buf, h * 4)[0]
            if off == EMPTY:
                return default
            n = U32.unpack_from(buf, off)[0]
            if buf[off + 4:off + 4 + n] == kb:
                off += 4 + n
                m = U32.unpack_from(buf, off)[0]
                return bytes(buf[off + 4:off + 4 + m]).decode()
            h = (h + 1) & mask

    def close(self):
        del self.buf
        self.shm.close()


# ---- cases ----

def run_readers(target, make_args, args):
    barrier, done, out = mp.Barrier(READERS), mp.Value("i", 0), mp.Queue()
    procs = [mp.Process(target=target, args=(*make_args(r), args, barrier, done, out)) for r in range(READERS)]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return results


def summed(results):
    """The sum, repetition by repetition, of every process's rate."""
    reps = len(results[0][0]["samples"])
    samples = [sum(r[0]["samples"][k] for r in results) for k in range(reps)]
    return {"median": median(samples), "samples": samples}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=0.3)
    parser.add_argument("--warmup", type=float, default=0.2)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--only", default="dict_get,queue_stream,lock_pingpong,lock_pairs,value_add,seed_manager,seed_shm")
    args = parser.parse_args()
    only = set(args.only.split(","))
    keys = keys_of(args.keys)
    results, per_process = {}, {}

    if "dict_get" in only or "seed_manager" in only:
        with mp.Manager() as m:
            d = m.dict({k: value_of(i) for i, k in enumerate(keys)})
            if "dict_get" in only:
                state = {"i": 0}

                def dict_get(n):
                    i = state["i"]
                    get = d.get
                    for j in range(i, i + n):
                        get(keys[j % len(keys)])
                    state["i"] = i + n

                results["dict_get"] = timed(dict_get, args.budget, args.warmup, args.reps)
            if "seed_manager" in only:
                rs = run_readers(dict_reader, lambda r: (d, keys, r * len(keys) // READERS), args)
                results["seed_manager"] = summed(rs)
                per_process["seed_manager"] = [r[0]["median"] for r in rs]

    if "seed_shm" in only:
        table = ShmDict.create([(k, value_of(i)) for i, k in enumerate(keys)])
        try:
            rs = run_readers(
                shm_reader, lambda r: (table.shm.name, table.slots, keys, r * len(keys) // READERS), args)
            results["seed_shm"] = summed(rs)
            per_process["seed_shm"] = [r[0]["median"] for r in rs]
        finally:
            table.close()
            table.shm.unlink()

    if "queue_stream" in only:
        q, out = mp.Queue(1000), mp.Queue()
        producer = mp.Process(target=queue_producer, args=(q,), daemon=True)
        consumer = mp.Process(target=queue_consumer, args=(q, args, out))
        producer.start()
        consumer.start()
        results["queue_stream"] = out.get()
        consumer.join()
        producer.terminate()
        producer.join()

    if "lock_pingpong" in only:
        ping, pong = mp.Lock(), mp.Lock()
        ping.acquire()
        pong.acquire()
        echo = mp.Process(target=lock_echo, args=(ping, pong), daemon=True)
        echo.start()

        def pingpong(n):
            for _ in range(n):
                ping.release()
                pong.acquire()

        results["lock_pingpong"] = timed(pingpong, args.budget, args.warmup, args.reps)
        echo.terminate()
        echo.join()

    if "lock_pairs" in only:
        lock = mp.Lock()

        def lock_pairs(n):
            acquire, release = lock.acquire, lock.release
            for _ in range(n):
                acquire()
                release()

        results["lock_pairs"] = timed(lock_pairs, args.budget, args.warmup, args.reps)

    if "value_add" in only:
        v, barrier, done, out = mp.Value("i", 0), mp.Barrier(2), mp.Value("i", 0), mp.Queue()
        procs = [mp.Process(target=value_adder, args=(v, args, barrier, done, out)) for _ in range(2)]
        for p in procs:
            p.start()
        rs = [out.get() for _ in procs]
        for p in procs:
            p.join()
        total = sum(r[1] for r in rs)
        if v.value != total:
            raise RuntimeError("mp.Value lost increments: %d after %d" % (v.value, total))
        results["value_add"] = summed(rs)
        per_process["value_add"] = [r[0]["median"] for r in rs]

    print(json.dumps({
        "python": platform.python_version(),
        "start_method": mp.get_start_method(),
        "budget_s": args.budget,
        "reps": args.reps,
        "keys": args.keys,
        "results": results,
        "per_process": per_process,
    }))


if __name__ == "__main__":
    main()
