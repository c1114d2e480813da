#!/usr/bin/env python3
"""Executes every notebook in this folder headless (nbclient), in order, and fails if
any cell fails. The committed notebooks stay output-free: the executed copies go to
$STRATA_NB_WORK/executed/ (default /tmp/strata-notebooks/executed/).

    python notebooks/run.py            # uses target/release/strata or target/debug/strata
    STRATA_BIN=path/to/strata STRATA_NB_USERS=3000 python notebooks/run.py
"""
import os, pathlib, sys, time
import nbformat
from nbclient import NotebookClient

here = pathlib.Path(__file__).resolve().parent
os.environ.setdefault("STRATA_ROOT", str(here.parent))
work = pathlib.Path(os.environ.setdefault("STRATA_NB_WORK", "/tmp/strata-notebooks"))
(work / "executed").mkdir(parents=True, exist_ok=True)
failed = []
for path in sorted(here.glob("[0-9][0-9]-*.ipynb")):
    nb = nbformat.read(path, as_version=4)
    if any(c.get("outputs") for c in nb.cells if c.cell_type == "code"):
        failed.append(f"{path.name}: committed with outputs; strip them")
        continue
    t0 = time.time()
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(here)}}).execute()
        print(f"ok   {path.name} ({time.time() - t0:.1f} s)")
    except Exception as e:  # a failing cell: report and go on with the others
        failed.append(f"{path.name}: {e}")
        print(f"FAIL {path.name} ({time.time() - t0:.1f} s)\n{e}")
    nbformat.write(nb, work / "executed" / path.name)
if failed:
    print("\n".join(failed), file=sys.stderr)
    sys.exit(1)
