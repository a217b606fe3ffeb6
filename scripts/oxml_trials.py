#!/usr/bin/env python3
"""Quick scikit-learn trials on cached OxML embeddings (issue 15): nested CV as `carcinoma compare`
(stratified 8-fold x 5 repeats outer, 4-fold inner grid search on macro F1, standardised columns,
balanced class weights), so a feature transform or a grid can be tried before it is built in Swift.
The folds are scikit-learn's (RepeatedStratifiedKFold, seed 0), not the toolkit's: compare trends, not digits.

Every trial is scored on the same 40 outer folds as "native" (the plain native embedding, the compare svm grid),
and compared with it by the corrected resampled t-test (Nadeau & Bengio 2003, as Sources/Evaluation/Significance.swift):
each line ends with the mean difference from native and its two-sided p.

Run (after `make run ... POOLING="final stages-raw" VIEWS=native FEATURES=runs/oxml-bench/features`, and for
the tiles rows `carcinoma extract --view tiles --tile-pool mean+max --pooling stages-raw --out runs/oxml-tiles/features`):
    python3 scripts/oxml_trials.py runs/oxml-bench/features [runs/oxml-tiles/features]     # session 5's trials
    python3 scripts/oxml_trials.py --heads runs/oxml-bench/features       # small-sample heads, class weights
    python3 scripts/oxml_trials.py --blocks runs/oxml-bench/features      # stage blocks chosen by the inner CV
    python3 scripts/oxml_trials.py --views runs/oxml-trials               # after scripts/oxml_view_trials.py
    python3 scripts/oxml_trials.py --augment runs/oxml-trials             # D4 training rows (oxml_view_trials.py native d4-1 … d4-7)
(--views aligns its rows with the image ids of runs/oxml-bench/features.) Environment: FOLD_SEED=n draws other
outer splits; ONLY="name|name" scores the baseline and only the trials so named.
"""
import json, os, pathlib, sys, warnings
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier, NearestCentroid
from sklearn.decomposition import PCA
from sklearn.metrics import f1_score
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

warnings.filterwarnings("ignore")
LABELS = pathlib.Path("../shared/data/oxml/labels.csv")
# The outer folds' seed (FOLD_SEED=1, 2, ... draws other splits of the same 62 images, to see whether a
# difference keeps its sign beyond one set of splits).
FOLD_SEED = int(os.environ.get("FOLD_SEED", "0"))


def load(folder, name):
    manifest = json.loads((pathlib.Path(folder) / f"{name}.json").read_text())
    values = np.load(pathlib.Path(folder) / f"{name}.npy").astype(np.float64)
    ids = [int(s.split("_")[1]) for s in manifest["imageIDs"]]
    blocks, offset = {}, 0
    for block in manifest.get("blocks") or []:
        blocks[block["name"]] = (offset, offset + block["width"])
        offset += block["width"]
    return values, ids, blocks


def svm_grid(width, C=(0.1, 1, 10), multiples=(0.25, 1, 4)):
    return [make_pipeline(StandardScaler(), SVC(C=c, gamma=m / width, class_weight="balanced")) for c in C for m in multiples]


def nested(X, y, grid):
    """Per-outer-fold macro F1 (40 values), the candidate of each fold chosen by the inner 4-fold CV."""
    return nested_views([X], y, grid, tta=False)


def corrected_test(differences, ratio=7.75 / 54.25):
    """Nadeau & Bengio (2003) corrected resampled t-test, as scripts/fixtures/significance_fixtures.py."""
    import scipy.stats
    d = np.asarray(differences, dtype=np.float64)
    if d.var(ddof=1) == 0:
        return 1.0
    t = d.mean() / np.sqrt((1 / len(d) + ratio) * d.var(ddof=1))
    return float(2 * scipy.stats.t.sf(abs(t), len(d) - 1))


def report(trials, y, baseline=None):
    """Scores every trial (the first one is the baseline); ONLY="a|b" keeps the baseline and the trials named exactly."""
    only = [n for n in os.environ.get("ONLY", "").split("|") if n]
    for position, (name, (X, grid)) in enumerate(trials.items()):
        if only and position > 0 and name not in only:
            continue
        scores = nested(X, y, grid)
        if baseline is None:
            baseline = scores
        line = f"{name:46s} macro F1 {scores.mean():.3f} ± {scores.std():.3f}"
        if scores is not baseline:
            line += f"   vs native {scores.mean() - baseline.mean():+.3f} (p {corrected_test(scores - baseline):.2f})"
        print(line, flush=True)
    return baseline


def read_labels():
    """labels.csv as {image id: label}."""
    return dict(tuple(map(int, line.split(","))) for line in LABELS.read_text().split()[1:])


def load_labelled(folder):
    labels = read_labels()
    native, ids, _ = load(folder, "efficientnet_lite0-native")
    stages, stage_ids, blocks = load(folder, "efficientnet_lite0-native-stages-raw")
    assert ids == stage_ids
    rows = [i for i, image in enumerate(ids) if image in labels]
    y = np.array([labels[ids[i]] for i in rows])
    return native[rows], stages[rows], blocks, ids, rows, y


def select(matrix, index, names):
    return np.hstack([matrix[:, index[n][0]:index[n][1]] for n in names])


class ColumnBlocks(BaseEstimator, TransformerMixin):
    """Keeps the columns of the named stage blocks (a grid parameter, so the inner CV picks them)."""
    def __init__(self, spans=None):
        self.spans = spans

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.hstack([X[:, a:b] for a, b in self.spans])


class RowNormaliser(BaseEstimator, TransformerMixin):
    """Each row scaled to unit length (after standardising, so the columns weigh alike)."""
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def class_weights(y, power):
    """n / (k n_c) raised to `power`: 0 unweighted, 1 balanced (scikit-learn's rule), 0.5 in between. From all 62
    labels rather than each training fold's: the folds are stratified, so the proportions are the same to a row."""
    classes, counts = np.unique(y, return_counts=True)
    return {c: (len(y) / (len(classes) * n)) ** power for c, n in zip(classes, counts)}


def head_trials(native, y):
    width = native.shape[1]
    uniform = np.full(3, 1 / 3)
    svm = lambda weight: (lambda w: [make_pipeline(StandardScaler(), SVC(C=c, gamma=m / w, class_weight=weight))
                                     for c in (0.1, 1, 10) for m in (0.25, 1, 4)])
    return {
        "native": (native, svm_grid),
        "svm, no class weights": (native, svm(None)),
        "svm, class weights ^ 0.5": (native, svm(class_weights(y, 0.5))),
        "svm, class weights ^ 1.5": (native, svm(class_weights(y, 1.5))),
        "svm, C to 1000": (native, lambda w: svm_grid(w, C=(1, 10, 100, 1000))),
        # LDA in the span of the training rows (PCA keeping every component): 1280 x 1280 solves made it
        # too slow on this shared machine; the class means lie in that span.
        "shrinkage LDA (Ledoit-Wolf), equal priors": (native, lambda w: [make_pipeline(
            StandardScaler(), PCA(), LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto", priors=uniform))]),
        "shrinkage LDA, shrinkage 0.1..0.9 by inner CV": (native, lambda w: [make_pipeline(
            StandardScaler(), PCA(), LinearDiscriminantAnalysis(solver="lsqr", shrinkage=s, priors=uniform))
            for s in (0.1, 0.3, 0.5, 0.7, 0.9)]),
        "nearest centroid, L2 rows": (native, lambda w: [make_pipeline(StandardScaler(), RowNormaliser(), NearestCentroid())]),
        "nearest shrunken centroid 0..2": (native, lambda w: [make_pipeline(StandardScaler(), NearestCentroid(shrink_threshold=t))
                                                           for t in (None, 0.5, 1.0, 2.0)]),
        "kNN cosine, k 1..9 distance-weighted": (native, lambda w: [make_pipeline(
            StandardScaler(), RowNormaliser(), KNeighborsClassifier(n_neighbors=k, weights="distance"))
            for k in (1, 3, 5, 7, 9)]),
        "logistic L2 balanced, C 1e-4..1": (native, lambda w: [make_pipeline(
            StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=2000)) for c in (1e-4, 1e-3, 1e-2, 0.1, 1)]),
        "svm rbf on L2 rows": (native, lambda w: [make_pipeline(StandardScaler(), RowNormaliser(),
                                                                SVC(C=c, gamma=g, class_weight="balanced"))
                                                  for c in (0.1, 1, 10) for g in (0.25, 1, 4)]),
    }


def block_trials(native, stages, blocks):
    index = lambda names: [blocks[n] for n in names]
    candidates = [["_conv_head"], ["_blocks.15", "_conv_head"], ["_blocks.14", "_blocks.15", "_conv_head"],
                  ["_blocks.10", "_blocks.14", "_blocks.15", "_conv_head"], list(blocks)]

    def grid(_, sets):
        result = []
        for names in sets:
            width = sum(b - a for a, b in index(names))
            result += [make_pipeline(ColumnBlocks(index(names)), StandardScaler(), SVC(C=c, gamma=m / width, class_weight="balanced"))
                       for c in (0.1, 1, 10) for m in (0.25, 1, 4)]
        return result
    return {
        "native": (native, svm_grid),
        "blocks chosen by inner CV: head / 15+head / 14+15+head": (stages, lambda w: grid(w, candidates[:3])),
        "blocks chosen by inner CV: all 5 sets": (stages, lambda w: grid(w, candidates)),
    }


def view_trials(folder, rows, ids):
    """Variants written by scripts/oxml_view_trials.py (rows in the same sorted order as the cache)."""
    names = json.loads((pathlib.Path(folder) / "native.json").read_text())["images"]
    assert [int(n.split("_")[1].split(".")[0]) for n in names] == ids
    final = lambda variant: np.load(pathlib.Path(folder) / f"{variant}.npy").astype(np.float64)[rows][:, -1280:]
    native = final("native")
    trials = {"native (PyTorch extraction)": (native, svm_grid)}
    for variant in ("reinhard", "macenko", "half"):
        if (pathlib.Path(folder) / f"{variant}.npy").exists():
            trials[variant] = (final(variant), svm_grid)
    if "macenko" in trials:
        trials["native + macenko, concatenated"] = (np.hstack([native, final("macenko")]), svm_grid)
        trials["native + macenko, averaged"] = ((native + final("macenko")) / 2, svm_grid)
    if "half" in trials:
        trials["native + half, concatenated"] = (np.hstack([native, final("half")]), svm_grid)
        trials["native + half, averaged"] = ((native + final("half")) / 2, svm_grid)
    return trials


def nested_views(views, y, grid, tta):
    """nested() with each training image's views (views: views x images x width, views[0] the native one) as that many
    training rows (the inner folds split images, never the views of one image); a test image is scored on its native
    view, or (tta) on the mean of the decision values of all its views. One view: nested() itself."""
    def fit(candidate, images):
        return clone(candidate).fit(np.vstack([v[images] for v in views]), np.tile(y[images], len(views)))
    def predict(model, images):
        if not tta:
            return model.predict(views[0][images])
        scores = np.mean([model.decision_function(v[images]) for v in views], axis=0)
        return model.classes_[np.argmax(scores, axis=1)]
    scores = []
    for train, test in RepeatedStratifiedKFold(n_splits=8, n_repeats=5, random_state=FOLD_SEED).split(views[0], y):
        best = None
        for candidate in grid(views[0].shape[1]):
            predicted = np.empty(len(train), int)
            for inner_train, inner_test in StratifiedKFold(4, shuffle=True, random_state=1).split(train, y[train]):
                predicted[inner_test] = predict(fit(candidate, train[inner_train]), train[inner_test])
            score = f1_score(y[train], predicted, average="macro")
            if best is None or score > best[0]:
                best = (score, candidate)
        scores.append(f1_score(y[test], predict(fit(best[1], train), test), average="macro"))
    return np.array(scores)


def augment_trials(folder):
    """D4 views as extra training rows, against the native view alone, on the same outer folds (rows in the sorted
    file-name order of scripts/oxml_view_trials.py)."""
    names = json.loads((pathlib.Path(folder) / "native.json").read_text())["images"]
    ids = [int(n.split("_")[1].split(".")[0]) for n in names]
    labels = read_labels()
    rows = [i for i, image in enumerate(ids) if image in labels]
    y = np.array([labels[ids[i]] for i in rows])
    load_view = lambda v: np.load(pathlib.Path(folder) / f"{v}.npy").astype(np.float64)[rows]
    full = [load_view("native")] + [load_view(f"d4-{k}") for k in range(1, 8)]
    logistic = lambda w: [make_pipeline(StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=5000))
                          for c in (1e-4, 1e-3, 1e-2, 0.1)]
    for columns, label in ((slice(-1280, None), "final block"), (slice(None), "all stages")):
        views = [v[:, columns] for v in full]
        for head, grid in (("svm", svm_grid), ("logistic", logistic)):
            baseline = nested(views[0], y, grid)
            print(f"{label} / {head}: native {baseline.mean():.3f} ± {baseline.std():.3f}", flush=True)
            for tta in (False, True):
                scores = nested_views(views, y, grid, tta)
                print(f"{label} / {head}: D4 training rows, test {'mean of 8 views' if tta else 'native view'} "
                      f"{scores.mean():.3f} ± {scores.std():.3f}   vs native {scores.mean() - baseline.mean():+.3f} "
                      f"(p {corrected_test(scores - baseline):.2f})", flush=True)


def main():
    mode = sys.argv[1] if sys.argv[1].startswith("--") else None
    arguments = sys.argv[2:] if mode else sys.argv[1:]
    if mode == "--views":
        native, _, _, ids, rows, y = load_labelled("runs/oxml-bench/features")
        report(view_trials(arguments[0], rows, ids), y)
        return
    if mode == "--augment":
        augment_trials(arguments[0])
        return
    native, stages, blocks, ids, rows, y = load_labelled(arguments[0])
    if mode == "--heads":
        report(head_trials(native, y), y)
        return
    if mode == "--blocks":
        report(block_trials(native, stages, blocks), y)
        return
    trials = {
        "native": (native, svm_grid),
        "native, signed square root": (np.sign(native) * np.sqrt(np.abs(native)), svm_grid),
        "native, L2-normalised": (native / np.linalg.norm(native, axis=1, keepdims=True), svm_grid),
        "native, log1p": (np.log1p(np.maximum(native, 0)), svm_grid),
        "stages _blocks.15 + _conv_head": (select(stages, blocks, ["_blocks.15", "_conv_head"]), svm_grid),
        "stages _blocks.14 + 15 + _conv_head": (select(stages, blocks, ["_blocks.14", "_blocks.15", "_conv_head"]), svm_grid),
        "native, grid gamma 1/16..1": (native, lambda w: svm_grid(w, multiples=(0.0625, 0.25, 1))),
        "native, grid C to 100, gamma 1/64..4": (native, lambda w: svm_grid(w, C=(0.1, 1, 10, 100), multiples=(0.016, 0.0625, 0.25, 1, 4))),
        "native, linear SVM": (native, lambda w: [make_pipeline(StandardScaler(), SVC(C=c, kernel="linear", class_weight="balanced"))
                                                  for c in (1e-4, 1e-3, 1e-2, 0.1, 1)]),
        "native, PCA 8/16/32 whitened": (native, lambda w: [make_pipeline(StandardScaler(), PCA(n_components=k, whiten=True),
                                                                           SVC(C=c, gamma="scale", class_weight="balanced"))
                                                             for c in (0.1, 1, 10) for k in (8, 16, 32)]),
    }
    if len(arguments) > 1:
        tiles, tile_ids, tile_blocks = load(arguments[1], "efficientnet_lite0-tiles-stages-raw")
        assert tile_ids == ids
        tiles = tiles[rows]
        trials["tiles mean"] = (select(tiles, tile_blocks, ["mean:_conv_head"]), svm_grid)
        trials["tiles mean+max"] = (select(tiles, tile_blocks, ["mean:_conv_head", "max:_conv_head"]), svm_grid)
        trials["native + tiles mean"] = (np.hstack([native, select(tiles, tile_blocks, ["mean:_conv_head"])]), svm_grid)
    report(trials, y)


if __name__ == "__main__":
    main()
