#!/usr/bin/env python3
"""Replays ensemble rules on the members' inner out-of-fold probabilities (issue 15): for each outer fold,
each rule picks member weights from the inner rows only; the weighted test probabilities are scored like a
`compare` row (macro F1 per fold over every class, zero when a class is neither present nor predicted,
then the mean over folds), and every rule is reported as its mean macro F1 minus the best member's.

The input is what `carcinoma compare --member-probabilities FILE` writes. Groups: the members of each head
(the "mean/stack of N feature sets / head" rows) and all members (the "stack of all" row). Rules:
  uniform                the plain mean
  score (mean rows)      w ∝ max(0, inner macro F1 - chance)            (Ensembles.scoreWeights)
  margin 0.10 (old)      the score weights unless the convex weights beat them on the inner rows by 0.10
                         macro F1 (the stack rule until this script; 0.10 was chosen on outer scores)
  inner-best member      the member with the highest inner macro F1 (ties: lower balanced log loss)
  convex                 simplex weights maximising the class-balanced inner log-likelihood (EM)
  selection              ensemble selection (Caruana et al. 2004), 50 steps, best prefix (Ensembles.selectionWeights)
  select among           the inner-best of: each member alone, the uniform mean, the score weights, the convex weights

Run (nothing but numpy):
    carcinoma compare --features runs/oxml-lite/features --labels ../shared/data/oxml/labels.csv --folds 8 \
        --repeats 5 --seed 1 --out runs/replay/lite3-seed1 --member-probabilities runs/replay/lite3-seed1.json
    python3 scripts/ensemble_replay.py runs/replay/*.json
"""
import json
import sys

import numpy as np


def macro_f1(y, p, k):
    predicted = np.argmax(p, axis=1)  # ties: the first (lowest) class, as the toolkit
    total = 0.0
    for c in range(k):
        tp = np.sum((predicted == c) & (y == c)); denominator = np.sum(predicted == c) + np.sum(y == c)
        total += 2 * tp / denominator if denominator > 0 else 0.0
    return total / k


def balanced(y):
    classes, counts = np.unique(y, return_counts=True)
    count = dict(zip(classes, counts))
    return np.array([len(y) / (len(classes) * count[v]) for v in y])


def log_loss(y, p):
    s = balanced(y)
    return float(-np.sum(s * np.log(np.maximum(p[np.arange(len(y)), y], 1e-12))) / np.sum(s))


def better(a, b):
    return a[0] > b[0] + 1e-12 or (abs(a[0] - b[0]) <= 1e-12 and a[1] < b[1] - 1e-12)


def combine(P, w):
    return sum(wi * p for wi, p in zip(w, P))


def chance(y, k):
    return sum(2 * f / k / (f + 1 / k) if f > 0 else 0 for f in (np.mean(y == c) for c in range(k))) / k


def score_weights(P, y, k):
    margins = np.array([max(0.0, macro_f1(y, p, k) - chance(y, k)) for p in P])
    return margins / margins.sum() if margins.sum() > 0 else np.full(len(P), 1 / len(P))


def convex_weights(P, y, k):
    w = np.full(len(P), 1 / len(P)); s = balanced(y)
    L = np.stack([np.maximum(p[np.arange(len(y)), y], 1e-12) for p in P], 1)
    for _ in range(1000):
        new = (s[:, None] * w[None] * L / (L @ w)[:, None]).sum(0) / s.sum()
        change = np.abs(new - w).max(); w = new
        if change <= 1e-10:
            break
    return w


def best_member(P, y, k):
    scores = [(macro_f1(y, p, k), log_loss(y, p)) for p in P]
    b = 0
    for i in range(1, len(P)):
        if better(scores[i], scores[b]):
            b = i
    return np.eye(len(P))[b]


def selection(P, y, k, steps=50):
    counts = np.zeros(len(P)); total = np.zeros_like(P[0]); best = None
    for step in range(1, steps + 1):
        chosen = None
        for m, p in enumerate(P):
            average = (total + p) / step
            score = (macro_f1(y, average, k), log_loss(y, average))
            if chosen is None or better(score, chosen[1]):
                chosen = (m, score)
        counts[chosen[0]] += 1; total = total + P[chosen[0]]
        if best is None or better(chosen[1], best[0]):
            best = (chosen[1], counts / counts.sum())
    return best[1]


def margin_rule(P, y, k):
    s, c = score_weights(P, y, k), convex_weights(P, y, k)
    return c if macro_f1(y, combine(P, c), k) >= macro_f1(y, combine(P, s), k) + 0.10 else s


def select_among(P, y, k):
    candidates = list(np.eye(len(P))) + [np.full(len(P), 1 / len(P)), score_weights(P, y, k), convex_weights(P, y, k)]
    best = None
    for w in candidates:
        p = combine(P, w); score = (macro_f1(y, p, k), log_loss(y, p))
        if best is None or better(score, best[0]):
            best = (score, w)
    return best[1]


RULES = {"uniform": lambda P, y, k: np.full(len(P), 1 / len(P)), "score (mean rows)": score_weights,
         "margin 0.10 (old stack)": margin_rule, "inner-best member": best_member, "convex": convex_weights,
         "selection (stack rows)": selection, "select among": select_among}


def replay(path):
    data = json.load(open(path))
    classes = data["classes"]; k = len(classes)
    y = np.array([classes.index(label) for label in data["labels"]])
    members = data["members"]
    groups = {head: [m for m in members if m["head"] == head] for head in dict.fromkeys(m["head"] for m in members)}
    groups["all"] = members
    table = {}
    for name, group in groups.items():
        folds = len(group[0]["folds"])
        member_means = [np.mean([macro_f1(y[f["testRows"]], np.array(f["test"]), k) for f in m["folds"]]) for m in group]
        best = max(member_means)
        table[name] = {"best member": best}
        for rule_name, rule in RULES.items():
            scores = []
            for i in range(folds):
                fold = group[0]["folds"][i]
                weights = rule([np.array(m["folds"][i]["inner"]) for m in group], y[fold["trainRows"]], k)
                scores.append(macro_f1(y[fold["testRows"]], combine([np.array(m["folds"][i]["test"]) for m in group], weights), k))
            table[name][rule_name] = np.mean(scores) - best
    return table


def main():
    summary = {rule: [] for rule in RULES}
    for path in sys.argv[1:]:
        table = replay(path)
        print(f"## {path}: mean macro F1 minus the best member's (outer folds), per group\n")
        print("| rule | " + " | ".join(table) + " |\n|---|" + "---|" * len(table))
        print("| best member (mean macro F1) | " + " | ".join(f"{table[g]['best member']:.3f}" for g in table) + " |")
        for rule in RULES:
            print(f"| {rule} | " + " | ".join(f"{table[g][rule]:+.3f}" for g in table) + " |")
            summary[rule] += [table[g][rule] for g in table]
        print()
    print(f"## all files: mean, worst, and how many of the {len(summary['uniform'])} groups are more than 0.02 below their best member\n")
    print("| rule | mean | worst | below −0.02 |\n|---|---|---|---|")
    for rule, values in summary.items():
        values = np.array(values)
        print(f"| {rule} | {values.mean():+.3f} | {values.min():+.3f} | {int(np.sum(values < -0.02))} |")


if __name__ == "__main__":
    main()
