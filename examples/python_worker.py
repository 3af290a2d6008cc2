#!/usr/bin/python3
"""An example tickervisor worker in Python: a small numpy network per ticker
that predicts the sign of the next day's return from the last
rewts.lookback_length daily log returns, trained with mini-batches of
rewts.batch_size (which the supervisor halves when the worker goes over
budget.rss), checkpointed every run.checkpoint_every episodes and on
SIGTERM/SIGUSR1, resumed from --resume. Out of sample: the last 20% of the
days, never trained on, traded long/short/flat on the prediction.

    build/supervisor/tickervisor run examples/quickstart.ini --worker examples/python_worker.py

Settings it reads: rewts.batch_size, rewts.hidden (the first layer's width),
rewts.episodes_per_chunk (episodes), rewts.lookback_length, run.seed, run.checkpoint_every, run.heartbeat. Memory: the activations are
batch_size x hidden doubles (three buffers), so halving batch_size halves
them. /usr/bin/python3: Debian's python3-numpy and python3-msgpack."""
import io
import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
import numpy as np  # noqa: E402

import tickervisor_worker as tv  # noqa: E402


def read_closes(w, path):
    """Dates and closes of a CSV with a header naming 'close'; bad input
    exits EXIT_BAD_INPUT with the file, line and field."""
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        w.fail(tv.EXIT_BAD_INPUT, "%s: %s" % (path, e.strerror))
    with f:
        header = f.readline().strip().lower().split(",")
        if "close" not in header:
            w.fail(tv.EXIT_BAD_INPUT, "%s:1: no 'close' column in the header" % path)
        col = header.index("close")
        closes = []
        for n, line in enumerate(f, 2):
            cells = line.strip().split(",")
            if len(cells) <= col:
                w.fail(tv.EXIT_BAD_INPUT, "%s:%d: field 'close' missing" % (path, n))
            try:
                v = float(cells[col])
            except ValueError:
                w.fail(tv.EXIT_BAD_INPUT, "%s:%d: field 'close': not a number: %r" % (path, n, cells[col]))
            if not (v > 0 and math.isfinite(v)):
                w.fail(tv.EXIT_BAD_INPUT, "%s:%d: field 'close': not a positive price: %r" % (path, n, cells[col]))
            closes.append(v)
    return np.array(closes)


def features(closes, lookback):
    r = np.diff(np.log(closes))
    n = len(r) - lookback
    X = np.stack([r[i:i + lookback] for i in range(n)]) * 100.0
    nxt = r[lookback:]                       # the return of the day after each window
    y = (nxt > 0).astype(np.float64)
    return X, y, nxt


class Net:
    """lookback -> hidden (ReLU) -> 1 (sigmoid); workspace buffers of
    batch x hidden are allocated once per attempt."""

    def __init__(self, n_in, hidden, batch, rng):
        self.W1 = rng.normal(0, 1 / math.sqrt(n_in), (n_in, hidden))
        self.b1 = np.zeros(hidden)
        self.W2 = rng.normal(0, 1 / math.sqrt(hidden), (hidden, 1))
        self.b2 = np.zeros(1)
        self.z = np.empty((batch, hidden))
        self.a = np.empty((batch, hidden))
        self.da = np.empty((batch, hidden))

    def params(self):
        return dict(W1=self.W1, b1=self.b1, W2=self.W2, b2=self.b2)

    def forward(self, X):
        """Predictions for X, batch_size rows at a time through the
        workspace (no more memory than a training step)."""
        out = np.empty(len(X))
        b = len(self.z)
        for i in range(0, len(X), b):
            a = self.a[:len(X[i:i + b])]
            np.matmul(X[i:i + b], self.W1, out=a)
            a += self.b1
            np.maximum(a, 0, out=a)
            out[i:i + b] = 1 / (1 + np.exp(-(a @ self.W2 + self.b2)))[:, 0]
        return out

    def step(self, X, y, lr):
        np.matmul(X, self.W1, out=self.z)
        self.z += self.b1
        np.maximum(self.z, 0, out=self.a)
        p = 1 / (1 + np.exp(-(self.a @ self.W2 + self.b2)))[:, 0]
        eps = 1e-12
        loss = -np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))
        g = ((p - y) / len(y))[:, None]
        gW2 = self.a.T @ g
        gb2 = g.sum(0)
        np.matmul(g, self.W2.T, out=self.da)
        self.da *= self.z > 0
        gW1 = X.T @ self.da
        gb1 = self.da.sum(0)
        self.W1 -= lr * gW1
        self.b1 -= lr * gb1
        self.W2 -= lr * gW2
        self.b2 -= lr * gb2
        return float(loss)


def save(path, net, episode, rng, rewards):
    buf = io.BytesIO()
    np.savez(buf, episode=np.array(episode), rng=np.array(json.dumps(rng.bit_generator.state)),
             rewards=np.array(rewards, dtype=np.float64), **net.params())
    tv.write_atomic(path, buf.getvalue())


def load(w, path, net):
    try:
        with np.load(io.BytesIO(tv.read_sealed(path))) as z:
            for k in ("W1", "b1", "W2", "b2"):
                if z[k].shape != getattr(net, k).shape:
                    w.fail(tv.EXIT_BAD_INPUT, "%s: %s has shape %s, the config gives %s"
                           % (path, k, z[k].shape, getattr(net, k).shape))
                getattr(net, k)[...] = z[k]
            return int(z["episode"]), json.loads(str(z["rng"])), list(z["rewards"])
    except (OSError, ValueError, KeyError) as e:
        w.fail(tv.EXIT_BAD_INPUT, "%s: not a checkpoint of this worker (%s)" % (path, e))


def backtest(net, X, nxt, closes_test):
    p = net.forward(X)
    pos = np.where(p > 0.52, 1.0, np.where(p < 0.48, -1.0, 0.0))
    ret = pos * (np.exp(nxt) - 1)
    equity = np.cumprod(1 + ret)
    total = float(equity[-1] - 1) if len(equity) else 0.0
    std = float(np.std(ret))
    sharpe = float(np.mean(ret) / std * math.sqrt(252)) if std > 0 else 0.0
    peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))
    dd = float(np.max(1 - np.concatenate([[1.0], equity]) / peak))
    trades = int(np.sum(np.diff(np.concatenate([[0.0], pos])) != 0))
    actions = (int(np.sum(pos < 0)), int(np.sum(pos == 0)), int(np.sum(pos > 0)))
    return dict(total_return=total, sharpe=sharpe, max_drawdown=dd,
                volatility=std * math.sqrt(252), win_rate=float(np.mean(ret > 0)),
                trades=trades, buy_hold_return=float(closes_test[-1] / closes_test[0] - 1),
                test_days=len(ret), actions=actions)


def main():
    w = tv.Worker.from_argv()
    try:
        episodes = int(w.get("rewts", "episodes_per_chunk", "10"))
        lookback = int(w.get("rewts", "lookback_length", "20"))
        hidden = int(w.get("rewts", "hidden", "64").split(",")[0])
        lr = 0.01  # plain SGD on this small net (rewts.learning_rate is the DDQN's Adam rate)
        seed = int(w.get("run", "seed", "42"))
    except ValueError as e:
        w.fail(tv.EXIT_BAD_INPUT, "%s: %s" % (w.args.config, e))
    closes = read_closes(w, w.data_path)
    if len(closes) < lookback + 50:
        w.fail(tv.EXIT_BAD_INPUT, "%s: %d days, fewer than lookback_length + 50" % (w.data_path, len(closes)))
    X, y, nxt = features(closes, lookback)
    split = int(len(X) * 0.8)
    with w.guard():
        w.hello(batch_size=w.batch_size, total_chunks=1, episodes_per_chunk=episodes)
        rng = np.random.default_rng(seed)
        net = Net(lookback, hidden, w.batch_size, rng)
        start, rewards = 0, []
        if w.resume_path:
            start, state, rewards = load(w, w.resume_path, net)
            rng.bit_generator.state = state
        w.set_memory(activations=net.z.nbytes * 3,
                     weights=sum(v.nbytes for v in net.params().values()) * 2)
        ckpt = os.path.join(w.out_dir, w.ticker + ".ckpt")
        steps = max(1, split // w.batch_size)
        for e in range(start, episodes):
            losses = [net.step(X[i], y[i], lr) for i in
                      (rng.integers(0, split, w.batch_size) for _ in range(steps))]
            # The episode's reward: log growth trading the training days.
            p = net.forward(X[:split])
            reward = float(np.sum(np.log1p(np.sign(p - 0.5) * (np.exp(nxt[:split]) - 1))))
            rewards.append(reward)
            w.progress(chunk=0, episode=e + 1, done_episodes=e + 1, total_episodes=episodes,
                       loss=float(np.mean(losses)), reward=reward, step=steps * (e + 1 - start))
            if w.checkpoint_requested or (e + 1) % w.checkpoint_every == 0 or w.stop_requested:
                save(ckpt, net, e + 1, rng, rewards)
                w.checkpoint(ckpt, chunk=0, episode=e + 1, done_episodes=e + 1)
            if w.stop_requested and e + 1 < episodes:
                sys.exit(tv.EXIT_INTERRUPTED)
        model = os.path.join(w.out_dir, w.ticker + ".model")
        save(model, net, episodes, rng, rewards)
        res = backtest(net, X[split:], nxt[split:], closes[split + lookback:])
        w.result(model, **res)
    sys.exit(tv.EXIT_DONE)


if __name__ == "__main__":
    main()
