"""Publish the approved model: the same bytes, under the alias `production-model`, as the next
version of `model://house-prices` in the model catalog."""

import json
import shutil

with open("/valohai/inputs/report/report.json") as handle:
    report = json.load(handle)
shutil.copy("/valohai/inputs/model/model.json", "/valohai/outputs/model.json")
with open("/valohai/outputs/model.json.metadata.json", "w") as handle:
    json.dump(
        {
            "valohai.alias": "production-model",
            "valohai.tags": ["tabular", "regression"],
            "valohai.model-versions": [
                {"model_uri": "model://house-prices/", "model_release_note": "retrained by the pipeline"}
            ],
            "rmse": report["rmse"],
        },
        handle,
    )
print(f"promoted model.json (RMSE {report['rmse']:.2f} k€ over {report['rows']} rows)")
