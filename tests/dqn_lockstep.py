#!/usr/bin/env python3
"""The PyTorch side of the DDQN lockstep test: an independent Double DQN
(torch.nn.functional.linear layers, torch.optim.Adam, clip_grad_norm_, the
hard target copy) fed what test_dqn_lockstep wrote - the same initial
weights, replay contents and sampled indices - step by step. Compares the
greedy actions on the probe states after every step, the losses, and the
final online and target parameters (relative L2 <= 1e-5, float32).

usage: dqn_lockstep.py DUMP.bin"""
import struct
import sys

import numpy as np
import torch

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


class Dump:
    def __init__(self, path):
        self.b = open(path, "rb").read()
        self.o = 0

    def i32(self, n=None):
        k = 1 if n is None else n
        v = np.frombuffer(self.b, dtype="<i4", count=k, offset=self.o)
        self.o += 4 * k
        return int(v[0]) if n is None else v.copy()

    def f32(self, n=None):
        k = 1 if n is None else n
        v = np.frombuffer(self.b, dtype="<f4", count=k, offset=self.o)
        self.o += 4 * k
        return float(v[0]) if n is None else v.copy()


def unflatten(flat, sizes):
    """The mlp.h layout: per layer W (out x in, row-major), then b."""
    out, o = [], 0
    for l in range(len(sizes) - 1):
        n_in, n_out = sizes[l], sizes[l + 1]
        w = torch.tensor(flat[o:o + n_out * n_in].reshape(n_out, n_in))
        o += n_out * n_in
        b = torch.tensor(flat[o:o + n_out])
        o += n_out
        out += [w, b]
    assert o == len(flat)
    return out


def flatten(params):
    return torch.cat([p.detach().reshape(-1) for p in params]).numpy()


def forward(params, x):
    n = len(params) // 2
    for l in range(n):
        x = torch.nn.functional.linear(x, params[2 * l], params[2 * l + 1])
        if l < n - 1:
            x = torch.relu(x)
    return x


def rel_l2(a, b):
    return float(np.linalg.norm(a.astype(np.float64) - b.astype(np.float64)) /
                 max(np.linalg.norm(b.astype(np.float64)), 1e-30))


def main(path):
    d = Dump(path)
    L = d.i32()
    sizes = [int(v) for v in d.i32(L + 1)]
    batch, n_replay, steps, n_probe, copy_every = d.i32(), d.i32(), d.i32(), d.i32(), d.i32()
    gamma, lr, clip = d.f32(), d.f32(), d.f32()
    n_params = sum(sizes[l + 1] * (sizes[l] + 1) for l in range(L))
    online = [p.clone().requires_grad_(True) for p in unflatten(d.f32(n_params), sizes)]
    target = [p.clone() for p in unflatten(d.f32(n_params), sizes)]
    S = torch.tensor(d.f32(n_replay * sizes[0]).reshape(n_replay, sizes[0]))
    A = torch.tensor(d.i32(n_replay).astype(np.int64))
    R = torch.tensor(d.f32(n_replay))
    S2 = torch.tensor(d.f32(n_replay * sizes[0]).reshape(n_replay, sizes[0]))
    D = torch.tensor(d.f32(n_replay))
    P = torch.tensor(d.f32(n_probe * sizes[0]).reshape(n_probe, sizes[0]))
    opt = torch.optim.Adam(online, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    gamma_t = torch.tensor(gamma, dtype=torch.float32)

    action_mismatch, worst_loss = 0, 0.0
    # The smallest relative gap between the two best Q_online(s') of any
    # sample: under ~1e-6 float32 rounding may pick the other a*, and the
    # runs then part ways by design, not by a difference of algorithm.
    min_gap, min_gap_step = float("inf"), 0
    for t in range(1, steps + 1):
        idx = torch.tensor(d.i32(batch).astype(np.int64))
        c_actions = d.i32(n_probe)
        c_loss = d.f32()
        s, a, r, s2, done = S[idx], A[idx], R[idx], S2[idx], D[idx]
        with torch.no_grad():
            q2 = forward(online, s2)
            best = torch.argmax(q2, dim=1)
            top = torch.topk(q2, 2, dim=1).values
            gap = float(torch.min((top[:, 0] - top[:, 1]) / (top[:, 0].abs() + 1e-3)))
            if gap < min_gap:
                min_gap, min_gap_step = gap, t
            q_next = forward(target, s2).gather(1, best[:, None])[:, 0]
            y = r + gamma_t * q_next * (1 - done)
        q = forward(online, s).gather(1, a[:, None])[:, 0]
        loss = torch.mean((q - y) ** 2)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(online, clip)
        opt.step()
        if t % copy_every == 0:
            with torch.no_grad():
                for tp, op in zip(target, online):
                    tp.copy_(op)
        with torch.no_grad():
            t_actions = torch.argmax(forward(online, P), dim=1).numpy()
        action_mismatch += int(np.sum(t_actions != c_actions))
        worst_loss = max(worst_loss, abs(loss.item() - c_loss) / max(abs(loss.item()), 1e-12))
    c_online = d.f32(n_params)
    c_target = d.f32(n_params)
    assert d.o == len(d.b), "dump not read to its end"
    e_online = rel_l2(c_online, flatten(online))
    e_target = rel_l2(c_target, flatten(target))
    moved = rel_l2(c_online, flatten(unflatten(np.frombuffer(d.b, "<f4", n_params, 4 * (L + 1 + 6 + 3)).copy(), sizes)))
    print("%d steps, batch %d, layers %s: online rel L2 %.3g, target rel L2 %.3g, "
          "loss rel diff max %.3g, action mismatches %d of %d, online moved %.3g from its start, "
          "closest argmax tie %.2g (step %d)"
          % (steps, batch, sizes, e_online, e_target, worst_loss, action_mismatch,
             steps * n_probe, moved, min_gap, min_gap_step))
    ok = e_online <= 1e-5 and e_target <= 1e-5 and action_mismatch == 0 and moved > 1e-3
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
