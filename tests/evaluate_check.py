#!/usr/bin/env python3
"""Checks --evaluate's JSON against the metrics stored in the model file
(decoded here with the msgpack module, not the worker's reader), and the
metrics that follow from the price file alone - buy and hold from the
first test day, the number of test days - computed here from the CSV.

usage: evaluate_check.py MODEL EVAL.json PRICES.csv"""
import csv
import json
import math
import re
import sys

import msgpack

WARMUP = 199  # indicators.h: the first usable day is the 200th close


def main(model_path, json_path, csv_path):
    raw = open(model_path, "rb").read()
    model = msgpack.Unpacker(raw=False, strict_map_key=False)
    model.feed(raw)
    model = next(model)
    stored = model["metrics"]
    printed = json.load(open(json_path))
    bad = []
    for k in ("total_return", "sharpe", "max_drawdown", "volatility", "win_rate",
              "buy_hold_return", "trades", "test_days", "actions"):
        if printed[k] != stored[k]:
            bad.append("%s: printed %r, stored %r" % (k, printed[k], stored[k]))
    rows = list(csv.DictReader(open(csv_path)))
    closes = [float(r["close"]) for r in rows]
    usable = len(closes) - WARMUP
    tf = float(re.search(r"test_fraction = ([0-9.e-]+)", model["config"]).group(1))
    test_rows = int(math.floor(usable * tf + 0.5))
    first = WARMUP + usable - test_rows
    bh = closes[-1] / closes[first] - 1
    if printed["test_days"] != test_rows - 1:
        bad.append("test_days %d, from the CSV %d" % (printed["test_days"], test_rows - 1))
    if abs(printed["buy_hold_return"] - bh) > 1e-12 * (1 + abs(bh)):
        bad.append("buy_hold_return %r, from the CSV %r" % (printed["buy_hold_return"], bh))
    if sum(printed["actions"]) != printed["test_days"]:
        bad.append("actions %r do not add up to the test days" % (printed["actions"],))
    for b in bad:
        print("mismatch:", b)
    print("%d metrics equal to the stored ones; buy and hold %.6f over %d test days as the CSV gives"
          % (9 - len(bad), bh, test_rows - 1) if not bad else "FAIL")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
