"""Score the trained model on the whole dataset; writes report.json for the reviewer.

Hard-codes Valohai's paths, as many existing scripts do: Assay gives each execution a
private /valohai.
"""

import csv
import json
import math

with open("/valohai/inputs/model/model.json") as handle:
    model = json.load(handle)
with open("/valohai/inputs/dataset/houses.csv", newline="") as handle:
    rows = list(csv.DictReader(handle))


def predict(row):
    values = [
        (float(row[f]) - m) / s
        for f, m, s in zip(model["features"], model["means"], model["stds"], strict=False)
    ]
    return model["bias"] + sum(w * v for w, v in zip(model["weights"], values, strict=False))


errors = [predict(row) - float(row["price_keur"]) for row in rows]
rmse = math.sqrt(sum(e * e for e in errors) / len(errors))
worst = max(abs(e) for e in errors)
print(json.dumps({"test_rmse": round(rmse, 3), "worst_error": round(worst, 3), "rows": len(rows)}))
with open("/valohai/outputs/report.json", "w") as handle:
    json.dump({"rmse": rmse, "worst_error": worst, "rows": len(rows)}, handle, indent=2)
