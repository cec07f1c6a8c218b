/**
 * The two kinds of {@linkcode Connection}: over byte rings in
 * SharedArrayBuffers (ends in threads of the process that made the pipe),
 * and over a unix socket to that process's relay (ends in a child process).
 * What they share: checks, the codec, queued calls, iteration, errors.
 * @module
 */
import type * as net from "node:net";
import { PipeError } from "../errors.ts";
import { deadlineOf, runAsync, runSync } from "../sync/_kernel.ts";
import { decode, encode } from "../transports/_codec.ts";
import { frame, FRAME_HEADER, frameLength, Ring, type RingEnd } from "./_ring.ts";
import type { Connection, RecvOptions } from "./pipe.ts";

function received(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v !== "object" || v === null) return String(v);
  const name = Object.getPrototypeOf(v)?.constructor?.name;
  return name && name !== "Object" ? `a ${name}` : "an object";
}

/** The slice of `bytes` that `sendBytes(bytes, offset, size)` sends. */
function slice(bytes: unknown, offset: unknown, size: unknown): Uint8Array {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`Cannot send bytes on connection as 'bytes' must be a Uint8Array: received ${received(bytes)}`);
  }
  const off = offset ?? 0;
  if (!Number.isInteger(off) || (off as number) < 0 || (off as number) > bytes.length) {
    throw new RangeError(`Cannot send bytes on connection as 'offset' is out of range: received ${received(offset)}`);
  }
  const n = size ?? bytes.length - (off as number);
  if (!Number.isInteger(n) || (n as number) < 0 || (off as number) + (n as number) > bytes.length) {
    throw new RangeError(`Cannot send bytes on connection as 'size' is out of range: received ${received(size)}`);
  }
  return bytes.subarray(off as number, (off as number) + (n as number));
}

function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(
      `Cannot receive from connection as 'signal' must be an AbortSignal: received ${received(signal)}`,
    );
  }
  return signal as AbortSignal | undefined;
}

function checkPollTimeout(timeout: unknown): number {
  if (typeof timeout !== "number" || Number.isNaN(timeout) || timeout < 0) {
    throw new TypeError(
      `Cannot poll connection as 'timeout' must be a non-negative number: received ${received(timeout)}`,
    );
  }
  return timeout;
}

/** The typed error of a receive that ended without a message. */
function recvError(
  end: RingEnd,
  why: string | undefined,
  timeout: number | undefined,
  signal?: AbortSignal,
): PipeError {
  switch (end) {
    case "eof":
      return new PipeError(
        "EOF",
        "Cannot receive from connection as its peer closed and nothing is left: received EOF",
      );
    case "closed":
      return closedError("receive from", why);
    case "timeout":
      return new PipeError("Timeout", `Cannot receive from connection as the timeout elapsed: received ${timeout}`);
    case "aborted":
      return new PipeError("Aborted", "Cannot receive from connection as the signal was aborted", {
        cause: signal?.reason,
      });
  }
}

function closedError(what: string, why: string | undefined): PipeError {
  return new PipeError("Closed", `Cannot ${what} connection as ${why ?? "it is closed"}`);
}

function brokenError(): PipeError {
  return new PipeError("BrokenPipe", "Cannot send on connection as its peer closed");
}

/** What both kinds share: argument checks, the codec, one call at a time per direction. */
abstract class BaseConnection<T> implements Connection<T> {
  abstract readonly readable: boolean;
  abstract readonly writable: boolean;
  /** Why this end is unusable (closed, or passed to a worker), once it is. */
  protected gone: string | undefined;
  #sending: Promise<unknown> = Promise.resolve();
  #receiving: Promise<unknown> = Promise.resolve();
  /** Calls queued and not settled, per direction: none lets a call take the fast path. */
  #pending = { send: 0, recv: 0 };

  get closed(): boolean {
    return this.gone !== undefined;
  }

  /** Throws unless this end can `what` (send on / receive from). */
  protected check(what: "send on" | "receive from" | "poll"): void {
    if (this.gone !== undefined) throw closedError(what, this.gone);
    if (what === "send on" ? !this.writable : !this.readable) {
      throw new PipeError(
        "Closed",
        `Cannot ${what} connection as this end of a one-way pipe ${
          what === "send on" ? "only receives" : "only sends"
        }`,
      );
    }
  }

  /** Runs `f` after the calls queued before it in this direction. */
  protected queued<R>(direction: "send" | "recv", f: () => Promise<R>): Promise<R> {
    const prev = direction === "send" ? this.#sending : this.#receiving;
    this.#pending[direction]++;
    const next = prev.then(f, f).finally(() => this.#pending[direction]--);
    const settled = next.catch(() => {});
    if (direction === "send") this.#sending = settled;
    else this.#receiving = settled;
    return next;
  }

  /** Throws when an async call of `direction` is under way: a sync twin would cut into its frame. */
  protected notBusy(direction: "send" | "recv", what: string): void {
    if (this.#pending[direction] > 0) {
      throw new TypeError(`Cannot call ${what} as an async ${direction} on this end is under way: received ${what}()`);
    }
  }

  /** Sends the frame at once if that needs no wait (true), else does nothing (false). */
  protected sendNow(_framed: Uint8Array): boolean {
    return false;
  }
  /** The next frame's payload if it is whole here already, else undefined (nothing taken). */
  protected recvNow(): Uint8Array | undefined {
    return undefined;
  }
  protected abstract sendFrame(framed: Uint8Array): Promise<void>;
  protected abstract recvFrame(
    deadline: number,
    timeout: number | undefined,
    signal?: AbortSignal,
  ): Promise<Uint8Array>;
  protected abstract pollFor(timeout: number): Promise<boolean>;
  abstract close(): void;

  send(value: T): Promise<void> {
    try {
      this.check("send on");
      return this.#sendChecked(encode(value));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  sendBytes(bytes: Uint8Array, offset?: number, size?: number): Promise<void> {
    try {
      this.check("send on");
      return this.#sendChecked(slice(bytes, offset, size));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #sendChecked(payload: Uint8Array): Promise<void> {
    const framed = frame(payload);
    if (this.#pending.send === 0 && this.sendNow(framed)) return Promise.resolve();
    return this.queued("send", () => {
      this.check("send on");
      return this.sendFrame(framed);
    });
  }

  async recv(options?: RecvOptions): Promise<T> {
    return decode(await this.recvBytes(options)) as T;
  }

  recvBytes(options?: RecvOptions): Promise<Uint8Array> {
    try {
      this.check("receive from");
      const timeout = options?.timeout;
      const deadline = deadlineOf(timeout, "receive from connection");
      const signal = checkSignal(options?.signal);
      if (signal?.aborted) throw recvError("aborted", undefined, timeout, signal);
      if (this.#pending.recv === 0) {
        const now = this.recvNow();
        if (now !== undefined) return Promise.resolve(now);
      }
      return this.queued("recv", () => {
        this.check("receive from");
        return this.recvFrame(deadline, timeout, signal);
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  poll(timeout = 0): Promise<boolean> {
    try {
      this.check("poll");
      return this.pollFor(checkPollTimeout(timeout));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  sendSync(_value: T): void {
    throw this.noSync("sendSync");
  }

  sendBytesSync(_bytes: Uint8Array, _offset?: number, _size?: number): void {
    throw this.noSync("sendBytesSync");
  }

  recvSync(_options?: { readonly timeout?: number }): T {
    throw this.noSync("recvSync");
  }

  recvBytesSync(_options?: { readonly timeout?: number }): Uint8Array {
    throw this.noSync("recvBytesSync");
  }

  pollSync(_timeout?: number): boolean {
    throw this.noSync("pollSync");
  }

  protected noSync(what: string): Error {
    return new TypeError(`Cannot call ${what} as this end of the pipe is in another process than the pipe's buffers`);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      let value: T;
      try {
        value = await this.recv();
      } catch (e) {
        if (e instanceof PipeError && (e.reason === "EOF" || e.reason === "Closed")) return;
        throw e;
      }
      yield value;
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** An end over two rings (or one, for a one-way pipe): a thread of the process that made the pipe. */
export class RingConnection<T = unknown> extends BaseConnection<T> {
  /** The ring this end reads. */
  readonly rx: Ring | undefined;
  /** The ring this end writes. */
  readonly tx: Ring | undefined;

  constructor(rx: Ring | undefined, tx: Ring | undefined) {
    super();
    this.rx = rx;
    this.tx = tx;
  }

  get readable(): boolean {
    return this.rx !== undefined;
  }

  get writable(): boolean {
    return this.tx !== undefined;
  }

  /** Makes this end unusable here without closing its rings: it now belongs to a worker. */
  handOver(to: string): void {
    this.gone ??= `it was passed to ${to}`;
  }

  close(): void {
    if (this.gone !== undefined) return;
    this.gone = "it is closed";
    this.rx?.closeReader();
    this.tx?.closeWriter();
  }

  protected override sendNow(framed: Uint8Array): boolean {
    const tx = this.tx!;
    if (tx.readerClosed() || tx.space() < framed.length) return false;
    tx.tryWrite(framed, 0, framed.length);
    return true;
  }

  protected override recvNow(): Uint8Array | undefined {
    const rx = this.rx!;
    const available = rx.available();
    if (available < FRAME_HEADER) return undefined;
    const header = new Uint8Array(FRAME_HEADER);
    rx.peek(header, 0, FRAME_HEADER);
    const n = frameLength(header);
    if (available < FRAME_HEADER + n) return undefined;
    rx.tryRead(header, 0, FRAME_HEADER);
    const out = new Uint8Array(n);
    rx.tryRead(out, 0, n);
    return out;
  }

  protected async sendFrame(framed: Uint8Array): Promise<void> {
    if (!(await this.tx!.write(framed))) throw brokenError();
  }

  protected async recvFrame(deadline: number, timeout: number | undefined, signal?: AbortSignal): Promise<Uint8Array> {
    const rx = this.rx!;
    const ready = await runAsync(rx.readableLoop(FRAME_HEADER, deadline), signal, (): RingEnd => "aborted");
    if (ready !== true) throw recvError(ready, this.gone, timeout, signal);
    // the message has begun: it is read whole, whatever the deadline or signal
    const out = new Uint8Array(this.#header(rx));
    const done = await runAsync(rx.readLoop(out), undefined, (): RingEnd => "aborted");
    if (done !== true) throw recvError(done, this.gone, timeout);
    return out;
  }

  #header(rx: Ring): number {
    const header = new Uint8Array(FRAME_HEADER);
    rx.tryRead(header, 0, FRAME_HEADER);
    return frameLength(header);
  }

  protected async pollFor(timeout: number): Promise<boolean> {
    const deadline = performance.now() + timeout;
    return await runAsync(this.rx!.readableLoop(FRAME_HEADER, deadline), undefined, (): RingEnd => "aborted") !==
      "timeout";
  }

  override sendSync(value: T): void {
    this.check("send on");
    this.#sendFrameSync(frame(encode(value)));
  }

  override sendBytesSync(bytes: Uint8Array, offset?: number, size?: number): void {
    this.check("send on");
    this.#sendFrameSync(frame(slice(bytes, offset, size)));
  }

  #sendFrameSync(framed: Uint8Array): void {
    this.notBusy("send", "sendSync");
    if (!this.tx!.writeSync(framed)) throw brokenError();
  }

  override recvSync(options?: { readonly timeout?: number }): T {
    return decode(this.recvBytesSync(options)) as T;
  }

  override recvBytesSync(options?: { readonly timeout?: number }): Uint8Array {
    this.check("receive from");
    this.notBusy("recv", "recvSync");
    const timeout = options?.timeout;
    const rx = this.rx!;
    const ready = runSync(rx.readableLoop(FRAME_HEADER, deadlineOf(timeout, "receive from connection")));
    if (ready !== true) throw recvError(ready, this.gone, timeout);
    const out = new Uint8Array(this.#header(rx));
    const done = runSync(rx.readLoop(out));
    if (done !== true) throw recvError(done, this.gone, timeout);
    return out;
  }

  override pollSync(timeout = 0): boolean {
    this.check("poll");
    const deadline = performance.now() + checkPollTimeout(timeout);
    return runSync(this.rx!.readableLoop(FRAME_HEADER, deadline)) !== "timeout";
  }
}

/** An end in a child process: frames over a unix socket to the relay of the process that made the pipe. */
export class SocketConnection<T = unknown> extends BaseConnection<T> {
  readonly readable: boolean;
  readonly writable: boolean;
  readonly #socket: net.Socket;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  /** The relay sent everything it will (the peer closed) or the socket failed. */
  #ended = false;
  /** The socket can no longer carry writes. */
  #broken = false;
  #changed: Set<() => void> = new Set();

  /** `first`: bytes that arrived with the relay's answer; `broken`: the peer no longer reads. */
  constructor(socket: net.Socket, readable: boolean, writable: boolean, first: Uint8Array, broken: boolean) {
    super();
    this.#socket = socket;
    this.readable = readable;
    this.writable = writable;
    this.#broken = broken;
    if (first.length > 0) {
      this.#chunks.push(first);
      this.#buffered = first.length;
    }
    socket.on("data", (d: Uint8Array) => {
      this.#chunks.push(d);
      this.#buffered += d.length;
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      this.#ended = true;
      this.#broken = true;
      this.#notify();
    });
  }

  #notify(): void {
    for (const f of this.#changed) f();
  }

  /** Bytes of the next frame when it is whole in the buffer, else undefined. */
  #whole(): number | undefined {
    if (this.#buffered < FRAME_HEADER) return undefined;
    const header = this.#take(FRAME_HEADER, false);
    const n = frameLength(header);
    return this.#buffered >= FRAME_HEADER + n ? n : undefined;
  }

  /** The first `n` buffered bytes, consumed unless `consume` is false. */
  #take(n: number, consume = true): Uint8Array {
    const out = new Uint8Array(n);
    let off = 0;
    let i = 0;
    while (off < n) {
      const c = this.#chunks[i];
      const k = Math.min(c.length, n - off);
      out.set(c.subarray(0, k), off);
      off += k;
      if (consume) {
        if (k === c.length) this.#chunks.shift();
        else this.#chunks[0] = c.subarray(k);
      } else i++;
    }
    if (consume) this.#buffered -= n;
    return out;
  }

  /** Resolves when `ready()` holds, the deadline passes (false) or the signal aborts (false). */
  #until(ready: () => boolean, deadline: number, signal?: AbortSignal): Promise<boolean> {
    if (ready()) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = (v: boolean) => {
        this.#changed.delete(check);
        clearTimeout(timer);
        signal?.removeEventListener("abort", abort);
        resolve(v);
      };
      const check = () => {
        if (ready()) done(true);
      };
      const abort = () => done(false);
      this.#changed.add(check);
      signal?.addEventListener("abort", abort, { once: true });
      if (deadline !== Infinity) timer = setTimeout(() => done(ready()), Math.max(0, deadline - performance.now()));
    });
  }

  protected async recvFrame(deadline: number, timeout: number | undefined, signal?: AbortSignal): Promise<Uint8Array> {
    const ok = await this.#until(
      () => this.gone !== undefined || this.#ended || this.#whole() !== undefined,
      deadline,
      signal,
    );
    const n = this.#whole();
    if (n !== undefined) {
      this.#take(FRAME_HEADER);
      return this.#take(n);
    }
    if (this.gone !== undefined) throw recvError("closed", this.gone, timeout);
    if (this.#ended) throw recvError("eof", undefined, timeout);
    throw recvError(ok || !signal?.aborted ? "timeout" : "aborted", undefined, timeout, signal);
  }

  protected pollFor(timeout: number): Promise<boolean> {
    return this.#until(() => this.#ended || this.#whole() !== undefined, performance.now() + timeout);
  }

  protected sendFrame(framed: Uint8Array): Promise<void> {
    if (this.#broken || this.#socket.writableEnded) return Promise.reject(brokenError());
    return new Promise((resolve, reject) => {
      this.#socket.write(framed, (e) => (e ? reject(brokenError()) : resolve()));
    });
  }

  close(): void {
    if (this.gone !== undefined) return;
    this.gone = "it is closed";
    this.#socket.end();
    this.#notify();
  }

  /** Resolves once what was sent reached the socket (or it failed), then closes: the worker is about to exit. */
  flush(): Promise<void> {
    if (this.#socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#socket.once("close", () => resolve());
      this.#socket.end(() => resolve());
    });
  }
}
