#!/usr/bin/env python3
"""Makes the xgboost fixtures of test/models-xgboost.test.ts with real xgboost.

Run with Debian's python (the python3 first on PATH lacks these packages):

    apt-get install -y python3-xgboost python3-sklearn
    /usr/bin/python3 scripts/make-model-fixtures.py

For each model it trains a small deterministic booster on synthetic data (seeded numpy, one
thread, exact tree method), saves it with `save_model("….model.json")` exactly as a user would,
and writes `….expected.json`: input rows (null = missing) and xgboost's own outputs for them —
`output_margin=True`, the transformed prediction, and `pred_contribs=True` (exact TreeSHAP).

The input rows are built to catch float32 mistakes: some values equal a split threshold of the
model, and some are float64 values just below a threshold that round to it in float32 (xgboost
compares in float32, so those go right, not left). Floats are written with 9 significant digits,
enough to round-trip a float32; inputs are written in full float64 precision.
"""
import json
import os
import sys

import numpy as np
import xgboost as xgb

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "models")
FEATURES = ["monthly_fee", "tenure_months", "spend_7d", "txn_count_30d", "avg_amount_30d", "cart_vs_avg"]


def synthetic(rng, n, missing_rate):
    """A churn-flavoured feature matrix with some NaNs (missing values)."""
    X = np.column_stack([
        rng.normal(50, 12, n),             # monthly_fee
        rng.integers(0, 72, n).astype(float),  # tenure_months
        rng.gamma(2.0, 30.0, n),           # spend_7d
        rng.poisson(8, n).astype(float),   # txn_count_30d
        rng.normal(25, 8, n),              # avg_amount_30d
        rng.lognormal(0, 0.5, n),          # cart_vs_avg
    ])
    if missing_rate > 0:
        X[rng.random(X.shape) < missing_rate] = np.nan
    return X


def score(X):
    """A non-linear signal the trees can learn; NaNs count as 0 after standardization."""
    Z = (X - np.nanmean(X, axis=0)) / np.nanstd(X, axis=0)
    Z = np.nan_to_num(Z)
    return 1.2 * Z[:, 0] - 0.9 * Z[:, 1] + 0.6 * Z[:, 2] * Z[:, 3] + 0.8 * np.sin(2 * Z[:, 4]) + 0.4 * (Z[:, 5] > 0.5)


def thresholds(booster):
    """(feature index, float32 threshold) of every split in the model."""
    out = []
    for tree in json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]:
        for f, c, l in zip(tree["split_indices"], tree["split_conditions"], tree["left_children"]):
            if l != -1:
                out.append((f, np.float32(c)))
    return out


def fixture_rows(rng, booster, n):
    """Fresh rows with missing values, plus rows that sit exactly on (or a float64 hair below) thresholds."""
    X = synthetic(rng, n, 0.15)
    splits = thresholds(booster)
    for i in range(0, n, 3):
        f, t = splits[rng.integers(len(splits))]
        if i % 2 == 0:
            X[i, f] = float(t)  # exactly the threshold: goes right (x < t is false)
        else:
            # a float64 just below t that rounds to t in float32: above the midpoint to the next float32 down
            lo = np.float64(np.nextafter(t, np.float32(-np.inf)))
            x = np.nextafter((np.float64(t) + lo) / 2, np.inf)
            assert np.float32(x) == t and x < np.float64(t), (x, t)
            X[i, f] = x
    X[0, :] = np.nan  # a row with every value missing
    return X


def f9(a):
    return [float("%.9g" % v) for v in np.asarray(a, dtype=np.float64).ravel()]


def write(name, booster, X, objective, params, extra=None):
    path = os.path.join(OUT, name)
    booster.save_model(path + ".model.json")
    d = xgb.DMatrix(X, feature_names=FEATURES, missing=np.nan)
    margin = booster.predict(d, output_margin=True)
    pred = booster.predict(d)
    contribs = booster.predict(d, pred_contribs=True)
    n = X.shape[0]
    expected = {
        "xgboost_version": xgb.__version__,
        "objective": objective,
        "params": params,
        "features": FEATURES,
        "rows": [[None if np.isnan(v) else float(v) for v in row] for row in X],
        # per row: a number, or one number per class
        "margin": [f9(margin[i]) if margin.ndim > 1 else f9([margin[i]])[0] for i in range(n)],
        "prediction": [f9(pred[i]) if pred.ndim > 1 else f9([pred[i]])[0] for i in range(n)],
        # per row: (features + bias), or one such list per class
        "contribs": [
            [f9(contribs[i, k]) for k in range(contribs.shape[1])] if contribs.ndim == 3 else f9(contribs[i])
            for i in range(n)
        ],
    }
    if extra:
        expected.update(extra)
    with open(path + ".expected.json", "w") as fh:
        json.dump(expected, fh, separators=(",", ":"))
    print(f"{name}: {os.path.getsize(path + '.model.json')} + {os.path.getsize(path + '.expected.json')} bytes", file=sys.stderr)


def main():
    os.makedirs(OUT, exist_ok=True)
    common = {"seed": 7, "nthread": 1, "tree_method": "exact"}

    # binary:logistic, missing values in training data, non-default base_score (stored as a probability)
    rng = np.random.default_rng(20261127)
    X = synthetic(rng, 800, 0.12)
    y = (score(X) + rng.normal(0, 0.5, len(X)) > 0).astype(float)
    params = {**common, "objective": "binary:logistic", "max_depth": 4, "eta": 0.15, "base_score": 0.3,
              "subsample": 0.9, "colsample_bytree": 0.9}
    b = xgb.train(params, xgb.DMatrix(X, label=y, feature_names=FEATURES, missing=np.nan), num_boost_round=100)
    write("xgb-binary-logistic", b, fixture_rows(rng, b, 90), "binary:logistic", params)

    # reg:squarederror, depth 6, explicit base_score
    rng = np.random.default_rng(11)
    X = synthetic(rng, 600, 0.05)
    y = 3.0 * score(X) + rng.normal(0, 0.3, len(X)) + 4.0
    params = {**common, "objective": "reg:squarederror", "max_depth": 6, "eta": 0.3, "base_score": 4.0, "min_child_weight": 3}
    b = xgb.train(params, xgb.DMatrix(X, label=y, feature_names=FEATURES, missing=np.nan), num_boost_round=25)
    write("xgb-regression", b, fixture_rows(rng, b, 60), "reg:squarederror", params)

    # multi:softprob with 3 classes (one tree per class per round)
    rng = np.random.default_rng(3)
    X = synthetic(rng, 600, 0.08)
    s = score(X) + rng.normal(0, 0.4, len(X))
    y = np.digitize(s, [-0.5, 0.7]).astype(float)
    params = {**common, "objective": "multi:softprob", "num_class": 3, "max_depth": 3, "eta": 0.3}
    b = xgb.train(params, xgb.DMatrix(X, label=y, feature_names=FEATURES, missing=np.nan), num_boost_round=20)
    write("xgb-multiclass", b, fixture_rows(rng, b, 45), "multi:softprob", params)


if __name__ == "__main__":
    main()
