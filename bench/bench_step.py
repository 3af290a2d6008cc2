#!/usr/bin/python3
"""The same Double-DQN gradient step as bench_step.c, in PyTorch, the way
the users' Python agent does it: nn.Sequential of Linear/ReLU 11-256-256-128-3,
Adam lr 5e-4, clip_grad_norm_ 1.0, gamma 0.995, a target network, the
Double-DQN target under torch.no_grad, MSE on Q(s, a). One thread.

Usage: /usr/bin/python3 bench/bench_step.py [reps] [batch ...]
Prints one "torch batch=B reps=N median_us=T median_cpu_us=C" line per
batch size (C: this thread's CPU time, robust on a loaded machine). Run it
with OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 (bench/step.sh does): torch's
set_num_threads does not reach the OpenBLAS that its Linear layers call."""
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def make_net():
    return nn.Sequential(nn.Linear(11, 256), nn.ReLU(),
                         nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, 3))


def bench(batch, reps):
    torch.manual_seed(1234)
    online = make_net()
    target = make_net()
    target.load_state_dict(online.state_dict())
    opt = torch.optim.Adam(online.parameters(), lr=5e-4)
    gamma = 0.995
    s = torch.randn(batch, 11)
    s2 = torch.randn(batch, 11)
    r = 0.01 * torch.randn(batch)
    a = torch.randint(0, 3, (batch,))
    done = (torch.rand(batch) < 0.05).float()

    def step():
        with torch.no_grad():
            a_star = online(s2).argmax(dim=1, keepdim=True)
            q_next = target(s2).gather(1, a_star).squeeze(1)
            y = r + gamma * q_next * (1.0 - done)
        q = online(s).gather(1, a.unsqueeze(1)).squeeze(1)
        loss = F.mse_loss(q, y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(online.parameters(), 1.0)
        opt.step()
        return loss.item()

    for _ in range(reps // 10 + 20):
        step()
    times = []
    cpu = []
    for _ in range(reps):
        t0 = time.perf_counter()
        c0 = time.thread_time()
        step()
        cpu.append(time.thread_time() - c0)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    medc = statistics.median(cpu)
    print(f"torch batch={batch} reps={reps} median_us={med * 1e6:.1f} "
          f"median_cpu_us={medc * 1e6:.1f}", flush=True)


def main():
    torch.set_num_threads(1)
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    batches = [int(b) for b in sys.argv[2:]] or [128, 256, 512]
    core = "?"
    try:  # the OpenBLAS that torch's Linear layers call (Debian's build)
        import ctypes
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        core = lib.openblas_get_corename().decode()
    except OSError:
        pass
    print(f"torch version={torch.__version__} threads={torch.get_num_threads()} "
          f"openblas_core={core}")
    for b in batches:
        # Fewer reps for the larger batches, as bench_step.c does.
        bench(b, reps if sys.argv[2:] else max(1, reps * 128 // b))


if __name__ == "__main__":
    main()
