"""Fit house prices with linear regression by gradient descent, in plain Python.

Written the way Valohai users write steps: valohai-utils for inputs, parameters, metrics and
outputs. Nothing here knows about Assay.
"""

import csv
import json
import math
import random

import valohai

valohai.prepare(
    step="train",
    default_parameters={"epochs": 200, "learning_rate": 0.1, "holdout": 0.2},
    default_inputs={"dataset": "data/houses.csv"},
)

FEATURES = ["size_m2", "rooms", "age_years"]
TARGET = "price_keur"


def load(path):
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    xs = [[float(row[f]) for f in FEATURES] for row in rows]
    ys = [float(row[TARGET]) for row in rows]
    return xs, ys


def standardize(xs):
    columns = list(zip(*xs, strict=False))
    means = [sum(c) / len(c) for c in columns]
    stds = [
        math.sqrt(sum((v - m) ** 2 for v in c) / len(c)) or 1.0 for c, m in zip(columns, means, strict=False)
    ]
    return [[(v - m) / s for v, m, s in zip(x, means, stds, strict=False)] for x in xs], means, stds


def predict(weights, bias, x):
    return bias + sum(w * v for w, v in zip(weights, x, strict=False))


def rmse(weights, bias, xs, ys):
    return math.sqrt(
        sum((predict(weights, bias, x) - y) ** 2 for x, y in zip(xs, ys, strict=False)) / len(ys)
    )


xs, ys = load(valohai.inputs("dataset").path())
xs, means, stds = standardize(xs)
order = list(range(len(ys)))
random.Random(0).shuffle(order)
cut = int(len(order) * (1 - valohai.parameters("holdout").value))
train = [order[i] for i in range(cut)]
test = [order[i] for i in range(cut, len(order))]

weights, bias = [0.0] * len(FEATURES), 0.0
rate = valohai.parameters("learning_rate").value
for epoch in range(1, valohai.parameters("epochs").value + 1):
    gradient, gradient_bias = [0.0] * len(FEATURES), 0.0
    for i in train:
        error = predict(weights, bias, xs[i]) - ys[i]
        gradient = [g + error * v for g, v in zip(gradient, xs[i], strict=False)]
        gradient_bias += error
    weights = [w - rate * g / len(train) for w, g in zip(weights, gradient, strict=False)]
    bias -= rate * gradient_bias / len(train)
    if epoch % 20 == 0 or epoch == 1:
        with valohai.logger() as logger:
            logger.log("epoch", epoch)
            logger.log(
                "train_rmse", round(rmse(weights, bias, [xs[i] for i in train], [ys[i] for i in train]), 3)
            )

test_rmse = rmse(weights, bias, [xs[i] for i in test], [ys[i] for i in test])
with valohai.logger() as logger:
    logger.log("test_rmse", round(test_rmse, 3))

model_path = valohai.outputs("model").path("model.json")
with open(model_path, "w") as handle:
    json.dump({"features": FEATURES, "means": means, "stds": stds, "weights": weights, "bias": bias}, handle)
with open(model_path + ".metadata.json", "w") as handle:
    json.dump(
        {"valohai.alias": "house-price-model", "valohai.tags": ["quickstart"], "test_rmse": test_rmse}, handle
    )
print(f"saved {model_path} (test RMSE {test_rmse:.2f} k€)")
