"""The app and the CLI make the same predictions file and score it alike.

The window test annotated the demo in the app with the model it trained
(Unassigned below 50 %, majority voting) and evaluated it on Compare. This
script finds both in the app's store, annotates the same dataset with the
same model and rules through `c2s predict`, and evaluates the app's
predictions through `c2s eval`: the predictions must be byte for byte the
app's, and the report's prediction section (the held-out cells and the
baselines on them) the same as the one Compare wrote.

Arguments: STUDIO_HOME C2S_BINARY."""
import glob
import json
import os
import sqlite3
import subprocess
import sys
import tempfile

home, c2s = sys.argv[1], sys.argv[2]
db = sqlite3.connect(os.path.join(home, "studio.sqlite"))
rows = db.execute(
    "SELECT project_id, path, meta_json FROM artefacts WHERE kind = 'predictions' ORDER BY id"
).fetchall()
trained = [(p, path, json.loads(m)) for p, path, m in rows if not json.loads(m or "{}").get("published")]
assert trained, f"no annotation by a trained model in {home}: {rows}"
project_id, app_predictions, meta = trained[0]
(dataset,) = db.execute(
    "SELECT folder FROM datasets WHERE project_id = ? ORDER BY id DESC LIMIT 1", (project_id,)
).fetchone()
(project_folder,) = db.execute("SELECT folder FROM projects WHERE id = ?", (project_id,)).fetchone()

with tempfile.TemporaryDirectory() as tmp:
    cli_predictions = os.path.join(tmp, "cli.jsonl")
    subprocess.run(
        [c2s, "predict", meta["model"], dataset, "--split", "all", "--unassigned-below", "0.5",
         "--majority-voting", "-o", cli_predictions],
        check=True, stdout=subprocess.DEVNULL,
    )
    app_lines = open(app_predictions, encoding="utf-8").read().splitlines()
    cli_lines = open(cli_predictions, encoding="utf-8").read().splitlines()
    assert len(app_lines) == len(cli_lines), (len(app_lines), len(cli_lines))
    for i, (a, c) in enumerate(zip(app_lines, cli_lines)):
        assert a == c, f"line {i + 1} differs:\n  app: {a}\n  cli: {c}"

    reports = sorted(glob.glob(os.path.join(project_folder, "reports", "report-*", "metrics.json")))
    assert reports, f"no report of Compare in {project_folder}"
    app_report = json.load(open(reports[0], encoding="utf-8"))
    subprocess.run(
        [c2s, "eval", dataset, "--predictions", app_predictions, "-o", os.path.join(tmp, "eval")],
        check=True, stdout=subprocess.DEVNULL,
    )
    cli_report = json.load(open(os.path.join(tmp, "eval", "metrics.json"), encoding="utf-8"))
    assert app_report["prediction"] == cli_report["prediction"], (
        json.dumps(app_report["prediction"])[:2000],
        json.dumps(cli_report["prediction"])[:2000],
    )
print(f"the app's and the CLI's annotation agree: {len(app_lines)} records, the same held-out report")
