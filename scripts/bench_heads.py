"""Heads benchmark, version 3 (macro F1 over every class of the data set): fit + predict time (wall and process CPU) and macro F1 of every head, scikit-learn (plus XGBoost /
LightGBM when installed) against `carcinoma bench heads`, on the same folds, printed side by side.

Data sets (written into a temporary directory at bench time, never committed):
  breast_cancer  sklearn.datasets.load_breast_cancer (569 x 30), StratifiedKFold(8, shuffle, seed 0)
  digits         sklearn.datasets.load_digits (1797 x 64, 10 classes: the size of a tile-level problem), same folds scheme
  embedding      make_classification, 62 x 2048, classes 44/9/9 (the OxML shape), same folds scheme
Every head runs as StandardScaler (+ the same head) fit inside each fold; times are summed over folds.
Wall seconds are what the goal is about (idle machine). CPU seconds (all threads of the process, Python's
time.process_time / CLOCK_PROCESS_CPUTIME_ID) are printed too: on a busy machine a niced process waits
for the cores and its wall time means little, its CPU time much less so (threads that spin-wait still count).

    OPENBLAS_NUM_THREADS=2 python3 scripts/bench_heads.py --bin .build/release/carcinoma [--markdown] [--heads svm_rbf,...]
        [--datasets breast_cancer,digits,embedding_62x2048] [--reference-budget SECONDS]
On digits scikit-learn's one-vs-rest GaussianProcessClassifier takes more than an hour of CPU over the 8 folds (it factors a
1572 x 1572 matrix many times per class and fold). So every reference runs in a child process with a wall-time budget
(--reference-budget, default 900 s per reference and data set; 0 = none): a reference still running when its budget is
spent is stopped, and its row says so: reference time "> N" (the wall and CPU seconds it had used, over the folds it had
started), its F1 "stopped", and the ratios "< r" (ours against a lower bound on the reference). Our side always runs
all 8 folds.
"""
import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.gaussian_process import GaussianProcessClassifier
from sklearn.gaussian_process.kernels import RBF, ConstantKernel
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

warnings.filterwarnings("ignore")
BENCH_VERSION = 3
SEED = 0

# (our head name, reference name, factory); the pairs the table compares.
REFERENCES = [
    ("softmax", "LogisticRegression (lbfgs, balanced)", lambda: LogisticRegression(class_weight="balanced", max_iter=10000)),
    ("svm_linear", "SVC linear (balanced, probability)", lambda: SVC(kernel="linear", class_weight="balanced", probability=True, random_state=SEED)),
    ("svm_rbf", "SVC rbf (balanced, probability)", lambda: SVC(kernel="rbf", class_weight="balanced", probability=True, random_state=SEED)),
    ("gaussian_process", "GaussianProcessClassifier (1*RBF(1))", lambda: GaussianProcessClassifier(ConstantKernel(1.0) * RBF(1.0), random_state=SEED)),
    ("gradient_boosted_trees", "HistGradientBoostingClassifier", lambda: HistGradientBoostingClassifier(random_state=SEED)),
]


def optional_tree_references():
    out = []
    try:
        from xgboost import XGBClassifier
        out.append(("gradient_boosted_trees", "XGBClassifier", lambda: XGBClassifier(n_jobs=2, random_state=SEED)))
    except ImportError:
        pass
    try:
        from lightgbm import LGBMClassifier
        out.append(("gradient_boosted_trees", "LGBMClassifier", lambda: LGBMClassifier(n_jobs=2, random_state=SEED, verbose=-1)))
    except ImportError:
        pass
    return out


def datasets():
    data = load_breast_cancer()
    yield "breast_cancer", data.data.astype(np.float64), data.target.astype(int)
    data = load_digits()
    yield "digits", data.data.astype(np.float64), data.target.astype(int)
    X, y = make_classification(n_samples=62, n_features=2048, n_informative=30, n_redundant=20, n_classes=3,
                               n_clusters_per_class=1, weights=[44 / 62, 9 / 62, 9 / 62], flip_y=0, random_state=SEED)
    yield "embedding_62x2048", X, y


def folds_of(y):
    splitter = StratifiedKFold(n_splits=8, shuffle=True, random_state=SEED)
    return [test.tolist() for _, test in splitter.split(np.zeros(len(y)), y)]


def run_reference(make, X, y, folds):
    # XGBoost wants labels 0..K-1; all our sets already are.
    seconds, cpu_seconds, scores = 0.0, 0.0, []
    for test in folds:
        mask = np.ones(len(y), bool)
        mask[test] = False
        start, cpu_start = time.perf_counter(), time.process_time()
        model = make_pipeline(StandardScaler(), make()).fit(X[mask], y[mask])
        predicted = model.predict(X[test])
        seconds += time.perf_counter() - start
        cpu_seconds += time.process_time() - cpu_start
        # Over every class of the data set, as the Swift side (ClassificationMetrics) and the comparison table.
        scores.append(f1_score(y[test], predicted, labels=np.unique(y), average="macro", zero_division=0))
    return float(np.mean(scores)), float(np.std(scores)), seconds, cpu_seconds


def _reference_child(make, X, y, folds, queue):
    queue.put(run_reference(make, X, y, folds))


def process_cpu_seconds(pid):
    """CPU seconds (user + system, all threads) a live process has used, from /proc (None where unreadable)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def run_reference_within(make, X, y, folds, budget):
    """run_reference in a child process; (f1, sd, seconds, cpu_seconds, finished). Past `budget` wall seconds
    the child is stopped and the seconds it had used are returned with finished = False."""
    if budget <= 0:
        return (*run_reference(make, X, y, folds), True)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_reference_child, args=(make, X, y, folds, queue))
    start = time.perf_counter()
    child.start()
    child.join(budget)
    if child.is_alive():
        cpu = process_cpu_seconds(child.pid)
        elapsed = time.perf_counter() - start
        child.kill()
        child.join()
        return float("nan"), float("nan"), elapsed, cpu if cpu is not None else float("nan"), False
    return (*queue.get(), True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=".build/release/carcinoma")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--heads", help="comma-separated heads to run (default all)")
    parser.add_argument("--datasets", help="comma-separated data sets to run (default all: breast_cancer,digits,embedding_62x2048)")
    parser.add_argument("--reference-budget", type=float, default=900,
                        help="wall seconds per reference and data set before it is stopped and reported as '> N' (0: no budget)")
    args = parser.parse_args()
    references = REFERENCES + optional_tree_references()
    if args.heads:
        wanted = args.heads.split(",")
        references = [r for r in references if r[0] in wanted]
    with tempfile.TemporaryDirectory() as directory:
        for name, X, y in datasets():
            if args.datasets and name not in args.datasets.split(","):
                continue
            folds = folds_of(y)
            path = os.path.join(directory, f"{name}.json")
            with open(path, "w") as f:
                json.dump({"name": name, "features": X.tolist(), "labels": y.tolist(), "folds": folds}, f)
            command = [args.bin, "bench", "heads", "--data", path]
            if args.heads:
                command += ["--heads", args.heads]
            completed = subprocess.run(command, check=True, capture_output=True, text=True)
            ours = {r["head"]: r for r in json.loads(completed.stdout)}
            counts = np.bincount(y).tolist()
            print(f"\n{name}: {X.shape[0]} x {X.shape[1]}, classes {counts}, 8-fold stratified (shuffle, seed 0), "
                  f"standardised in each fold; macro F1 mean ± sd, fit+predict seconds summed over folds")
            if args.markdown:
                print("\n| head | reference | reference F1 | ours F1 | reference s | ours s | ours / reference time "
                      "| reference CPU s | ours CPU s | ours / reference CPU |")
                print("|---|---|---|---|---|---|---|---|---|---|")
            for head, label, make in references:
                f1, sd, seconds, cpu_seconds, finished = run_reference_within(make, X, y, folds, args.reference_budget)
                mine = ours[head]
                ratio = mine["seconds"] / seconds if seconds > 0 else float("nan")
                cpu_ratio = mine["cpuSeconds"] / cpu_seconds if cpu_seconds > 0 else float("nan")
                # A stopped reference: its seconds are a lower bound, so our ratios are upper bounds.
                bound = "" if finished else "> "
                ratio_bound = "" if finished else "< "
                row = (head, label, f"{f1:.3f} ± {sd:.3f}" if finished else f"stopped after {args.reference_budget:g} s",
                       f"{mine['macroF1Mean']:.3f} ± {mine['macroF1StandardDeviation']:.3f}",
                       f"{bound}{seconds:.3f}", f"{mine['seconds']:.3f}", f"{ratio_bound}{ratio:.2f}",
                       f"{bound}{cpu_seconds:.3f}", f"{mine['cpuSeconds']:.3f}", f"{ratio_bound}{cpu_ratio:.2f}")
                if args.markdown:
                    print("| " + " | ".join(row) + " |")
                else:
                    print("  {:<24s} {:<40s} ref {:<15s} ours {:<15s} ref {:>8s}s ours {:>8s}s ratio {} "
                          "cpu ref {:>8s}s ours {:>8s}s ratio {}".format(*row))
                sys.stdout.flush()


if __name__ == "__main__":
    main()
