#!/usr/bin/env python3
"""Quick scikit-learn trials on cached OxML embeddings (issue 15): nested CV as `carcinoma compare`
(stratified 8-fold x 5 repeats outer, 4-fold inner grid search on macro F1, standardised columns,
balanced class weights), so a feature transform or a grid can be tried before it is built in Swift.
The folds are scikit-learn's (RepeatedStratifiedKFold, seed 0), not the toolkit's: compare trends, not digits.

Run (after `make run ... POOLING="final stages-raw" VIEWS=native FEATURES=runs/oxml-bench/features`, and for
the tiles rows `carcinoma extract --view tiles --tile-pool mean+max --pooling stages-raw --out runs/oxml-tiles/features`):
    python3 scripts/oxml_trials.py runs/oxml-bench/features [runs/oxml-tiles/features]
"""
import json, pathlib, sys, warnings
import numpy as np
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.metrics import f1_score
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

warnings.filterwarnings("ignore")
LABELS = pathlib.Path("../shared/data/oxml/labels.csv")


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
    scores = []
    for train, test in RepeatedStratifiedKFold(n_splits=8, n_repeats=5, random_state=0).split(X, y):
        best = None
        for candidate in grid(X.shape[1]):
            predicted = np.empty(len(train), int)
            for inner_train, inner_test in StratifiedKFold(4, shuffle=True, random_state=1).split(X[train], y[train]):
                predicted[inner_test] = clone(candidate).fit(X[train][inner_train], y[train][inner_train]).predict(X[train][inner_test])
            score = f1_score(y[train], predicted, average="macro")
            if best is None or score > best[0]:
                best = (score, candidate)
        fitted = clone(best[1]).fit(X[train], y[train])
        scores.append(f1_score(y[test], fitted.predict(X[test]), average="macro"))
    return np.mean(scores), np.std(scores)


def main():
    labels = dict(tuple(map(int, line.split(","))) for line in LABELS.read_text().split()[1:])
    native, ids, _ = load(sys.argv[1], "efficientnet_lite0-native")
    stages, stage_ids, blocks = load(sys.argv[1], "efficientnet_lite0-native-stages-raw")
    assert ids == stage_ids
    rows = [i for i, image in enumerate(ids) if image in labels]
    y = np.array([labels[ids[i]] for i in rows])
    native, stages = native[rows], stages[rows]
    select = lambda matrix, index, names: np.hstack([matrix[:, index[n][0]:index[n][1]] for n in names])
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
    if len(sys.argv) > 2:
        tiles, tile_ids, tile_blocks = load(sys.argv[2], "efficientnet_lite0-tiles-stages-raw")
        assert tile_ids == ids
        tiles = tiles[rows]
        trials["tiles mean"] = (select(tiles, tile_blocks, ["mean:_conv_head"]), svm_grid)
        trials["tiles mean+max"] = (select(tiles, tile_blocks, ["mean:_conv_head", "max:_conv_head"]), svm_grid)
        trials["native + tiles mean"] = (np.hstack([native, select(tiles, tile_blocks, ["mean:_conv_head"])]), svm_grid)
    for name, (X, grid) in trials.items():
        mean, sd = nested(X, y, grid)
        print(f"{name:40s} svm macro F1 {mean:.3f} ± {sd:.3f}", flush=True)


if __name__ == "__main__":
    main()
