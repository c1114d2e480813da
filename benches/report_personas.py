#!/usr/bin/env python3
"""Acceptance check for the report (issue #5): on `strata generate` data, does the
report recover the planted personas, and does it name as candidate new segments the
personas the rules do not describe?

Runs `strata run` twice on the same generated data:
  1. with the default rules (which describe every planted persona);
  2. with the default rules minus the segments that describe one persona
     (Intent's "Team Champion" and "Evaluator"), so those personas are undescribed.
Prints the ARI of the chosen clustering against personas.parquet, each family's ARI,
and every candidate new segment with the persona that dominates it.

    python3 benches/report_personas.py [--users 20000] [--seed 42]

Needs only python3 (stdlib) and cargo.
"""
import argparse, json, os, re, subprocess, sys, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("--users", type=int, default=20000)
ap.add_argument("--seed", type=int, default=42)
ap.add_argument("--k-min", type=int, default=4)
args = ap.parse_args()

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
subprocess.run(["cargo", "build", "--release", "-q"], cwd=root, check=True)
strata = os.path.join(root, "target", "release", "strata")
tmp = tempfile.mkdtemp(prefix="strata-personas-")
data = os.path.join(tmp, "data")
subprocess.run([strata, "-q", "generate", "--users", str(args.users), "--seed", str(args.seed), "--out", data], check=True)

rules = subprocess.run([strata, "rules", "init", "--out", os.path.join(tmp, "default.rules")], check=True)
text = open(os.path.join(tmp, "default.rules")).read()
dropped = ["Team Champion", "Evaluator"]
for name in dropped:
    text, n = re.subn(r'segment "%s" \{.*?\n\}\n' % re.escape(name), "", text, flags=re.S)
    assert n == 1, name
reduced = os.path.join(tmp, "reduced.rules")
open(reduced, "w").write(text)


def run(label, rules_file):
    out = os.path.join(tmp, label)
    cmd = [strata, "-q", "run", "--events", os.path.join(data, "events.parquet"),
           "--users", os.path.join(data, "users.parquet"), "--personas", os.path.join(data, "personas.parquet"),
           "--k-min", str(args.k_min), "--seed", str(args.seed), "--out", out]
    if rules_file:
        cmd += ["--rules", rules_file]
    subprocess.run(cmd, check=True)
    r = json.load(open(os.path.join(out, "report", "report.json")))
    p = r["personas"]
    print(f"\n== {label}: {r['users']} users, {r['cluster_count']} clusters")
    print(f"ARI of the clusters vs planted personas: {p['clusters']['ari']:.3f} (NMI {p['clusters']['nmi']:.3f})")
    for fam, s in p["families"]:
        print(f"  ARI of the {fam} segments vs personas: {s['ari']:.3f}")
    cands = [c for c in r["clusters"] if c["candidate"]]
    print(f"candidate new segments: {len(cands)}")
    for c in cands:
        persona, share = c["persona"]
        rule = c.get("learned_rule") or {}
        print(f"  {c['label']} ({c['size']} users): persona {persona} {100 * share:.0f}%; "
              f"learned rule precision {rule.get('precision', float('nan')):.2f} recall {rule.get('recall', float('nan')):.2f}")
    return {c["persona"][0] for c in cands}


run("default-rules", None)
found = run("without-" + "-and-".join(d.lower().replace(" ", "-") for d in dropped), reduced)
undescribed = {"team_champion", "evaluator"}
print(f"\nundescribed personas: {sorted(undescribed)}; named as candidates: {sorted(found & undescribed)}")
print(f"outputs in {tmp}")
