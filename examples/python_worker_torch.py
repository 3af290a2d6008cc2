#!/usr/bin/python3
"""The PyTorch variant of examples/python_worker.py, on the same client
(clients/python/tickervisor_worker.py): per ticker a small torch network,
lookback -> hidden (ReLU) -> 1, predicts the sign of the next day's return
from the last rewts.lookback_length daily log returns (the same features,
out-of-sample split and backtest as the numpy example, imported from it).
Mini-batches of rewts.batch_size, which the supervisor halves after an
attempt went over budget.rss; a checkpoint (torch.save of the model, the
batch sampler's generator and the rewards so far, sealed and written through
tv.write_atomic) every run.checkpoint_every episodes and on SIGTERM/SIGUSR1;
--resume continues from one where it left off, with the same result as a
run that was not stopped. The client's heartbeats carry the RSS it
measures.

    build/supervisor/tickervisor run examples/quickstart.ini --worker examples/python_worker_torch.py

Settings it reads: rewts.batch_size, rewts.hidden (the first layer's
width), rewts.episodes_per_chunk (episodes), rewts.lookback_length,
run.seed, run.checkpoint_every, run.heartbeat. Memory: a training step
holds a few batch_size x hidden float32 tensors (the layer's output, the
ReLU's, their gradients), so halving batch_size halves them; the
interpreter and torch take about 230 MiB before that (110 MiB of it
private). Importing torch takes seconds before the first frame: keep
run.hang_timeout (default 60 s) above that. /usr/bin/python3: Debian's
python3-torch, python3-numpy and python3-msgpack."""
import ctypes
import io
import os
import pickle
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "clients", "python"))
sys.path.insert(0, HERE)


def keep_freed_memory():
    """glibc gives the large blocks a step frees back to the system at once,
    so the step's memory would come and go between two of the supervisor's
    samples and budget.rss would not see it. Keeping freed blocks (up to
    32 MiB each) in the heap makes a step's working set stay resident, as
    PyTorch's caching allocator does on a GPU: what the budget sees is what
    the batch size needs. Elsewhere than glibc: nothing."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(-1, 1 << 30)   # M_TRIM_THRESHOLD: never trim the heap's top
    libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: blocks up to 32 MiB from the heap


keep_freed_memory()
import numpy as np  # noqa: E402
import torch  # noqa: E402

import python_worker as base  # noqa: E402  (the numpy example: data, features, backtest)
import tickervisor_worker as tv  # noqa: E402


class Probabilities:
    """The model's P(next day up) for rows of X, batch_size at a time (no
    more memory than a training step), as base.backtest() wants."""

    def __init__(self, model, batch):
        self.model, self.batch = model, batch

    def forward(self, X):
        out = []
        with torch.no_grad():
            for i in range(0, len(X), self.batch):
                out.append(torch.sigmoid(self.model(X[i:i + self.batch])[:, 0]))
        return torch.cat(out).numpy().astype(np.float64)


def save(path, model, gen, episode, rewards):
    buf = io.BytesIO()
    # Plain SGD keeps no state of its own (its settings come from the
    # configuration); a stateful optimiser's state_dict() would go here too,
    # as tensors (torch.load(weights_only=True) of torch 1.13 reads no floats).
    torch.save({"episode": episode, "model": model.state_dict(), "gen": gen.get_state(),
                "rewards": torch.tensor(rewards, dtype=torch.float64)}, buf)
    tv.write_atomic(path, buf.getvalue())


def load(w, path, model, gen):
    """Restores a checkpoint of this worker (tensors and plain values only:
    weights_only, no pickled code); anything else is EXIT_BAD_INPUT."""
    try:
        z = torch.load(io.BytesIO(tv.read_sealed(path)), weights_only=True)
        model.load_state_dict(z["model"])
        gen.set_state(z["gen"])
        return int(z["episode"]), [float(r) for r in z["rewards"]]
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, pickle.UnpicklingError) as e:
        w.fail(tv.EXIT_BAD_INPUT, "%s: not a checkpoint of this worker (%s)" % (path, e))


def main():
    w = tv.Worker.from_argv()
    try:
        episodes = int(w.get("rewts", "episodes_per_chunk", "10"))
        lookback = int(w.get("rewts", "lookback_length", "20"))
        hidden = int(w.get("rewts", "hidden", "64").split(",")[0])
        seed = int(w.get("run", "seed", "42"))
    except ValueError as e:
        w.fail(tv.EXIT_BAD_INPUT, "%s: %s" % (w.args.config, e))
    lr = 0.05  # plain SGD on this small net
    closes = base.read_closes(w, w.data_path)
    if len(closes) < lookback + 50:
        w.fail(tv.EXIT_BAD_INPUT, "%s: %d days, fewer than lookback_length + 50" % (w.data_path, len(closes)))
    Xn, yn, nxt = base.features(closes, lookback)
    X, y = torch.from_numpy(Xn).float(), torch.from_numpy(yn).float()
    split = int(len(X) * 0.8)
    torch.set_num_threads(int(w.get("run", "threads", "1")))  # one thread: the same bytes every run
    with w.guard():
        w.hello(batch_size=w.batch_size, total_chunks=1, episodes_per_chunk=episodes)
        torch.manual_seed(seed)
        model = torch.nn.Sequential(torch.nn.Linear(lookback, hidden), torch.nn.ReLU(),
                                    torch.nn.Linear(hidden, 1))
        optim = torch.optim.SGD(model.parameters(), lr=lr)
        gen = torch.Generator().manual_seed(seed)
        start, rewards = 0, []
        if w.resume_path:
            start, rewards = load(w, w.resume_path, model, gen)
            print("%s: resumed at episode %d from %s" % (w.ticker, start, w.resume_path), file=sys.stderr)
        n_params = sum(p.numel() for p in model.parameters())
        w.set_memory(activations=4 * w.batch_size * hidden * 4, weights=2 * n_params * 4)
        ckpt = os.path.join(w.out_dir, w.ticker + ".ckpt")
        steps = max(1, split // w.batch_size)
        probs = Probabilities(model, w.batch_size)
        for e in range(start, episodes):
            losses = []
            for _ in range(steps):
                idx = torch.randint(0, split, (w.batch_size,), generator=gen)
                loss = torch.nn.functional.binary_cross_entropy_with_logits(model(X[idx])[:, 0], y[idx])
                optim.zero_grad()
                loss.backward()
                optim.step()
                losses.append(float(loss))
            # The episode's reward: log growth trading the training days.
            p = probs.forward(X[:split])
            reward = float(np.sum(np.log1p(np.sign(p - 0.5) * (np.exp(nxt[:split]) - 1))))
            rewards.append(reward)
            w.progress(chunk=0, episode=e + 1, done_episodes=e + 1, total_episodes=episodes,
                       loss=float(np.mean(losses)), reward=reward, step=steps * (e + 1 - start))
            if w.checkpoint_requested or (e + 1) % w.checkpoint_every == 0 or w.stop_requested:
                save(ckpt, model, gen, e + 1, rewards)
                w.checkpoint(ckpt, chunk=0, episode=e + 1, done_episodes=e + 1)
            if w.stop_requested and e + 1 < episodes:
                sys.exit(tv.EXIT_INTERRUPTED)
        model_path = os.path.join(w.out_dir, w.ticker + ".model")
        save(model_path, model, gen, episodes, rewards)
        res = base.backtest(probs, X[split:], nxt[split:], closes[split + lookback:])
        w.result(model_path, **res)
    sys.exit(tv.EXIT_DONE)


if __name__ == "__main__":
    main()
