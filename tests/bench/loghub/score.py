#!/usr/bin/env python3
"""Scores template predictions on Loghub-2k and checks the quality targets.

Usage: score.py DATA_ROOT PRED_DIR EVALUATOR
PRED_DIR holds <D>.csv (LineId,EventTemplate) for each data set. Prints GA on the orig and lh2
labels, PA/FGA/FTA on lh2, and the averages; exits 1 when the average GA (either label set) is
below 0.93, any GA is below 0.80, or the average lh2 PA is below 0.60.
"""
import importlib.util
import os
import sys

DATASETS = ["Android", "Apache", "BGL", "HDFS", "Hadoop", "Linux", "OpenStack", "Spark"]
MIN_AVG_GA = 0.93
MIN_GA = 0.80
MIN_AVG_PA = 0.60


def main():
    root, preds, evaluator = sys.argv[1:4]
    spec = importlib.util.spec_from_file_location("eval_loghub", evaluator)
    ev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ev)

    rows = []
    for d in DATASETS:
        pred = os.path.join(preds, d + ".csv")
        orig = ev.eval_one(os.path.join(root, d), pred, "orig")
        lh2 = ev.eval_one(os.path.join(root, d), pred, "lh2")
        rows.append((d, orig["GA"], lh2["GA"], lh2["PA"], lh2["FGA"], lh2["FTA"]))

    print("| data set | GA orig | GA lh2 | PA lh2 | FGA lh2 | FTA lh2 |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %.3f | %.3f | %.3f | %.3f | %.3f |" % r)
    avg = [sum(r[i] for r in rows) / len(rows) for i in range(1, 6)]
    print("| **average** | %.3f | %.3f | %.3f | %.3f | %.3f |" % tuple(avg))

    failures = []
    if avg[0] < MIN_AVG_GA or avg[1] < MIN_AVG_GA:
        failures.append("average GA %.3f / %.3f < %.2f" % (avg[0], avg[1], MIN_AVG_GA))
    for r in rows:
        if r[1] < MIN_GA or r[2] < MIN_GA:
            failures.append("%s GA %.3f / %.3f < %.2f" % (r[0], r[1], r[2], MIN_GA))
    if avg[2] < MIN_AVG_PA:
        failures.append("average PA (lh2) %.3f < %.2f" % (avg[2], MIN_AVG_PA))
    if failures:
        print("FAIL: " + "; ".join(failures))
        return 1
    print("OK: targets met (average GA >= %.2f on both label sets, every GA >= %.2f, "
          "average PA >= %.2f)" % (MIN_AVG_GA, MIN_GA, MIN_AVG_PA))
    return 0


if __name__ == "__main__":
    sys.exit(main())
