#!/usr/bin/env python3
"""The DDQN step of bench_gpu_step.c in PyTorch on the same GPU, for the ratio.

Same network (11-256-256-128-3, ReLU, FP32, TF32 off), same step: batch
gathered on the device from a 50000-transition ring by host-drawn indices,
a* = argmax Q_online(s'), y = r + gamma Q_target(s', a*) (1 - done), MSE on
Q_online(s, a), clip_grad_norm_(1.0), Adam(lr 5e-4); the loss is summed on
the device (no per-step sync), as the C worker does.

  torch_step.py [--steps N] [--batch 128 256 512]
                [--mode eager|eager-fused|compile|compile-ro]

eager: plain PyTorch (Adam's default foreach); eager-fused: Adam(fused=True);
compile: torch.compile of the whole step (default
mode); compile-ro: mode="reduce-overhead" (CUDA graphs). Per batch size it
prints the same columns as bench_gpu_step: step+sync median (p10, p90) and
pipelined mean us/step, plus the compile time.
"""
import argparse
import copy
import statistics
import sys
import time

import torch
import torch.nn as nn


def make_net():
    return nn.Sequential(nn.Linear(11, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 3))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--mode", default="eager", choices=["eager", "eager-fused", "compile", "compile-ro"])
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: skipped")
        return 77
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    torch.manual_seed(0)
    print(f"device: {torch.cuda.get_device_name(0)}; torch {torch.__version__}; mode {args.mode}; "
          f"{args.steps} steps", flush=True)
    cap, dim, gamma = 50000, 11, 0.995
    gen = torch.Generator().manual_seed(1)
    for batch in args.batch:
        online = make_net().to(dev)
        target = copy.deepcopy(online)
        opt = torch.optim.Adam(online.parameters(), lr=5e-4,
                               fused=True if args.mode == "eager-fused" else None)
        S = torch.randn(cap, dim, device=dev)
        S2 = torch.randn(cap, dim, device=dev)
        A = torch.randint(0, 3, (cap,), device=dev)
        R = 0.01 * torch.randn(cap, device=dev)
        D = (torch.rand(cap, device=dev) < 0.01).float()
        loss_sum = torch.zeros((), device=dev)
        idx_dev = torch.zeros(batch, dtype=torch.long, device=dev)

        def step(idx):
            s, s2, a, r, d = S[idx], S2[idx], A[idx], R[idx], D[idx]
            with torch.no_grad():
                a_star = online(s2).argmax(1, keepdim=True)
                y = r + gamma * target(s2).gather(1, a_star).squeeze(1) * (1.0 - d)
            q = online(s).gather(1, a.unsqueeze(1)).squeeze(1)
            loss = torch.nn.functional.mse_loss(q, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(online.parameters(), 1.0)
            opt.step()
            return loss.detach()

        fn = step
        if args.mode == "compile":
            fn = torch.compile(step)
        elif args.mode == "compile-ro":
            fn = torch.compile(step, mode="reduce-overhead")

        h_idx = torch.empty(batch, dtype=torch.long).pin_memory()
        copied = torch.cuda.Event()
        copied.record()

        def one():
            # Host-drawn indices into a reused pinned buffer, uploaded each
            # step; wait until the previous upload has read it (as the C
            # bench does with its event).
            copied.synchronize()
            torch.randint(0, cap, (batch,), generator=gen, out=h_idx)
            idx_dev.copy_(h_idx, non_blocking=True)
            copied.record()
            return fn(idx_dev)

        t0 = time.perf_counter()
        for _ in range(3):
            loss_sum += one()
        torch.cuda.synchronize()
        compile_s = time.perf_counter() - t0
        for _ in range(100):
            loss_sum += one()
        torch.cuda.synchronize()
        times = []
        for _ in range(args.steps):
            t0 = time.perf_counter()
            loss_sum += one()
            torch.cuda.synchronize()
            times.append((time.perf_counter() - t0) * 1e6)
        times.sort()
        med = statistics.median(times)
        p10, p90 = times[len(times) // 10], times[len(times) * 9 // 10]
        t0 = time.perf_counter()
        for _ in range(args.steps):
            loss_sum += one()
        torch.cuda.synchronize()
        pipe = (time.perf_counter() - t0) * 1e6 / args.steps
        print(f"torch {args.mode:10s} batch {batch:4d}: step+sync median {med:7.1f} us "
              f"(p10 {p10:6.1f}, p90 {p90:6.1f}), pipelined {pipe:7.1f} us/step; "
              f"first 3 steps {compile_s:.1f} s; loss sum {loss_sum.item():.4g}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
