"""A client for writing tickervisor workers in Python (standard library and
python3-msgpack only). docs/protocol.md is the contract; this module speaks
it so that a worker only trains:

    import tickervisor_worker as tv

    w = tv.Worker.from_argv()          # parses the worker command line
    w.hello(batch_size=w.batch_size, total_chunks=1, episodes_per_chunk=E)
    for e in range(start, E):
        ...train one episode with w.batch_size...
        w.progress(chunk=0, episode=e + 1, done_episodes=e + 1, total_episodes=E,
                   loss=loss, reward=reward)
        if w.checkpoint_requested or (e + 1) % w.checkpoint_every == 0:
            save(path); w.checkpoint(path, chunk=0, episode=e + 1, done_episodes=e + 1)
        if w.stop_requested:
            sys.exit(tv.EXIT_INTERRUPTED)   # after the checkpoint above
    w.result(model_path, total_return=..., ...)
    sys.exit(tv.EXIT_DONE)

Heartbeats go out from a background thread every run.heartbeat seconds with
the process's resident memory measured here (/proc/self/statm, VmHWM);
set_memory() adds the worker's own accounting. SIGTERM sets stop_requested
and checkpoint_requested, SIGUSR1 (the supervisor's "near the memory
budget") sets checkpoint_requested; both are only flags: the worker acts at
its next safe point. MemoryError should end in EXIT_OVER_BUDGET (the
supervisor then halves batch_size): use `with w.guard():` around training.
"""
import argparse
import configparser
import os
import signal
import struct
import sys
import threading
import time
import zlib

import msgpack

PROTO_VERSION = 1
PROTO_MAX_FRAME = 64 * 1024
STR_MAX = 255  # bytes of a string field (paths, messages); 63 for ticker and device

# Exit codes: the supervisor decides from these alone (docs/protocol.md).
EXIT_DONE = 0          # trained, model written, result frame sent
EXIT_INTERRUPTED = 10  # stopped on SIGTERM after a checkpoint: resume from it
EXIT_OVER_BUDGET = 11  # out of memory: the supervisor halves batch_size and resumes
EXIT_BAD_INPUT = 12    # bad data, config or checkpoint: permanent, never retried
EXIT_INTERNAL = 13     # a bug or an environment failure: retried with back-off
EXIT_USAGE = 64        # wrong command line: permanent

_PAGE = os.sysconf("SC_PAGE_SIZE")


def seal(data):
    """data with the trailer every checkpoint and model file ends with: the
    byte 0xce and the big-endian zlib CRC-32 of data (a msgpack uint32).
    The supervisor checks it before it resumes from a checkpoint."""
    return bytes(data) + b"\xce" + struct.pack(">I", zlib.crc32(data) & 0xFFFFFFFF)


def unseal(blob, path="file"):
    """The data of a sealed file's bytes; ValueError when the trailer is
    missing or disagrees (a torn or foreign file)."""
    if len(blob) < 5 or blob[-5] != 0xCE:
        raise ValueError("%s: no checksum trailer" % path)
    data = blob[:-5]
    if struct.unpack(">I", blob[-4:])[0] != zlib.crc32(data) & 0xFFFFFFFF:
        raise ValueError("%s: checksum mismatch" % path)
    return data


def file_checksum(path):
    """The checksum a checkpoint or result frame carries: the CRC-32 of the
    sealed file's data (verified against its trailer)."""
    with open(path, "rb") as f:
        return zlib.crc32(unseal(f.read(), path)) & 0xFFFFFFFF


def read_sealed(path):
    """The data of a file written by write_atomic()."""
    with open(path, "rb") as f:
        return unseal(f.read(), path)


def rss_bytes():
    """(current, peak) resident memory of this process in bytes."""
    with open("/proc/self/statm") as f:
        cur = int(f.read().split()[1]) * _PAGE
    peak = cur
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) * 1024
    return cur, max(cur, peak)


def encode(msg_type, **fields):
    """One frame: a 4-byte big-endian length and a msgpack map."""
    body = msgpack.packb(dict(v=PROTO_VERSION, t=msg_type, **fields), use_bin_type=True)
    if len(body) > PROTO_MAX_FRAME:
        raise ValueError("%s frame of %d bytes exceeds %d" % (msg_type, len(body), PROTO_MAX_FRAME))
    return struct.pack(">I", len(body)) + body


def _cut(s, n=STR_MAX):
    b = str(s).encode("utf-8")[:n]
    return b.decode("utf-8", "ignore")


class Worker:
    """The worker's side of one attempt: arguments, frames, signals."""

    def __init__(self, args, report_fd):
        self.args = args
        self.ticker = args.ticker
        self.data_path = args.data
        self.out_dir = args.out
        self.resume_path = args.resume
        self.config = load_config(args.config, args.set, getattr(args, "config_fd", -1))
        self.batch_size = int(self.get("rewts", "batch_size", "64"))
        self.checkpoint_every = int(self.get("run", "checkpoint_every", "10"))
        self.heartbeat_s = float(self.get("run", "heartbeat", "1"))
        self._fd = report_fd
        self._lock = threading.Lock()
        self._mem = dict(bytes_replay=0, bytes_activations=0, bytes_weights=0, bytes_device=0)
        self._peak = dict(self._mem)
        self._stop_hb = threading.Event()
        self._hb = None
        self.stop_requested = False
        self.checkpoint_requested = False
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGUSR1, self._on_usr1)

    # ---- set-up ----

    @classmethod
    def from_argv(cls, argv=None):
        """Parses the command line the supervisor gives every worker:
        --config F [--config-fd N] [--set S.K=V ...] --ticker T --data CSV
        [--signals CSV] --out DIR [--resume CKPT] [--report-fd N]. With
        --config-fd, the configuration is the text read from that descriptor
        (the run's, frozen when it started); F only names it in messages.
        Exits EXIT_USAGE on a bad one and EXIT_BAD_INPUT on an unreadable
        config."""
        p = argparse.ArgumentParser(description="a tickervisor worker")
        p.add_argument("--config", required=True)
        p.add_argument("--config-fd", type=int, default=-1)
        p.add_argument("--set", action="append", default=[])
        p.add_argument("--ticker", required=True)
        p.add_argument("--data", required=True)
        p.add_argument("--signals")
        p.add_argument("--out", required=True)
        p.add_argument("--resume")
        p.add_argument("--report-fd", type=int, default=-1)
        try:
            args = p.parse_args(argv)
        except SystemExit as e:
            sys.exit(EXIT_DONE if e.code == 0 else EXIT_USAGE)
        try:
            return cls(args, args.report_fd)
        except (OSError, ValueError, configparser.Error) as e:
            print("%s: %s" % (args.config, e), file=sys.stderr)
            sys.exit(EXIT_BAD_INPUT)

    def get(self, section, key, default=None):
        """A setting of the run's configuration (after --set), as text."""
        return self.config.get(section, key, fallback=default)

    # ---- frames ----

    def _send(self, msg_type, **fields):
        if self._fd < 0:
            return
        frame = encode(msg_type, **fields)
        with self._lock:
            view = memoryview(frame)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]

    def hello(self, batch_size=None, total_chunks=1, episodes_per_chunk=1, backend="cpu",
              device="cpu"):
        """The first frame; starts the heartbeat thread."""
        self._send("hello", pid=os.getpid(), ticker=_cut(self.ticker, 63),
                   backend=_cut(backend, 15), device=_cut(device, 63),
                   batch_size=int(batch_size or self.batch_size),
                   total_chunks=int(total_chunks), episodes_per_chunk=int(episodes_per_chunk))
        if self._hb is None and self._fd >= 0:
            self._hb = threading.Thread(target=self._beat, daemon=True)
            self._hb.start()

    def progress(self, chunk, episode, done_episodes, total_episodes, loss=0.0, epsilon=0.0,
                 reward=0.0, step=0):
        self._send("progress", chunk=int(chunk), episode=int(episode), step=int(step),
                   done_episodes=int(done_episodes), total_episodes=int(total_episodes),
                   loss=float(loss), epsilon=float(epsilon), reward=float(reward))

    def set_memory(self, replay=0, activations=0, weights=0, device=0):
        """The worker's own accounting of its memory (bytes): sent now and
        with every heartbeat after."""
        with self._lock:
            for k, v in (("bytes_replay", replay), ("bytes_activations", activations),
                         ("bytes_weights", weights), ("bytes_device", device)):
                self._mem[k] = int(v)
                self._peak[k] = max(self._peak[k], int(v))
        self.heartbeat()

    def heartbeat(self):
        cur, peak = rss_bytes()
        with self._lock:
            mem, pk = dict(self._mem), dict(self._peak)
        self._send("heartbeat", rss_current=cur, rss_peak=peak, **mem,
                   peak_replay=pk["bytes_replay"], peak_activations=pk["bytes_activations"],
                   peak_weights=pk["bytes_weights"], peak_device=pk["bytes_device"])

    def _beat(self):
        while not self._stop_hb.wait(self.heartbeat_s):
            try:
                self.heartbeat()
            except OSError:
                return

    def checkpoint(self, path, chunk, episode, done_episodes):
        """Reports a checkpoint file the worker has written completely with
        write_atomic() (sealed, PATH.tmp, fsync, rename: docs/protocol.md)."""
        self.checkpoint_requested = False
        self._send("checkpoint", path=_cut(os.path.abspath(path)), checksum=file_checksum(path),
                   chunk=int(chunk), episode=int(episode), done_episodes=int(done_episodes))

    def result(self, model_path, total_return, sharpe, max_drawdown, volatility, win_rate,
               trades, buy_hold_return, test_days, actions=(0, 0, 0)):
        """The last frame before exit 0: the model file and its
        out-of-sample backtest."""
        self._stop_hb.set()
        self._send("result", model_path=_cut(os.path.abspath(model_path)),
                   checksum=file_checksum(model_path), total_return=float(total_return),
                   sharpe=float(sharpe), max_drawdown=float(max_drawdown),
                   volatility=float(volatility), win_rate=float(win_rate), trades=int(trades),
                   buy_hold_return=float(buy_hold_return), test_days=int(test_days),
                   actions=[int(a) for a in actions])

    def error(self, code, message):
        """Says why the worker is about to exit with code (not 0)."""
        self._send("error", code=int(code), message=_cut(message))

    def fail(self, code, message):
        """error() then exit(code)."""
        print("%s: %s" % (self.ticker, message), file=sys.stderr)
        try:
            self.error(code, message)
        except OSError:
            pass
        sys.exit(code)

    def guard(self):
        """A context manager: MemoryError -> EXIT_OVER_BUDGET, any other
        exception -> EXIT_INTERNAL, each with an error frame."""
        worker = self

        class _Guard:
            def __enter__(self):
                return worker

            def __exit__(self, kind, value, tb):
                if kind is None or issubclass(kind, SystemExit):
                    return False
                if issubclass(kind, MemoryError):
                    worker.fail(EXIT_OVER_BUDGET, "out of memory at batch_size %d" % worker.batch_size)
                worker.fail(EXIT_INTERNAL, "%s: %s" % (kind.__name__, value))
                return False
        return _Guard()

    # ---- signals: flags only ----

    def _on_term(self, signum, frame):
        self.stop_requested = True
        self.checkpoint_requested = True

    def _on_usr1(self, signum, frame):
        self.checkpoint_requested = True


def load_config(path, sets=(), fd=-1):
    """The run's INI file (or, with fd >= 0, the text read from that
    descriptor until its end, named path in messages) with the --set
    overrides applied."""
    cfg = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"))
    if fd >= 0:
        with os.fdopen(fd, "r", encoding="utf-8", closefd=True) as f:
            cfg.read_string(f.read(), source=path)
    else:
        with open(path) as f:
            cfg.read_file(f)
    for s in sets:
        key, sep, value = s.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot:
            raise ValueError("--set %r: expected section.key=value" % s)
        if not cfg.has_section(section):
            cfg.add_section(section)
        cfg.set(section, name, value)
    return cfg


def write_atomic(path, data):
    """Writes seal(data) to path through path.tmp (fsync, then rename),
    keeping the previous file as path.prev: the supervisor resumes from
    path, or from path.prev when path does not match the checksum it was
    told (a crash between the rename and the frame)."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(seal(data))
        f.flush()
        os.fsync(f.fileno())
    if os.path.exists(path):
        os.replace(path, path + ".prev")
    os.replace(tmp, path)
