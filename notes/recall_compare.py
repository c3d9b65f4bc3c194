#!/usr/bin/env python3
"""Old (host KV methods) vs new (policies over the CPU plugin's KV primitives) quick recall
suite: per-method aggregates and every KV case whose accuracy or mass kept changed.
Usage: recall_compare.py OLD.db NEW.db > recall_compare_tables.md"""
import sqlite3, sys
from collections import defaultdict

METRICS = ["recall_accuracy", "attention_mass_kept", "kv_bytes", "compress_time", "decode_time",
           "output_error_vs_full", "compress_kernel_time"]


def load(path):
    db = sqlite3.connect(path)
    cases = {}
    for cid, key, config, shape, status in db.execute(
            "SELECT id, case_key, config, shape, status FROM cases WHERE config LIKE 'kv=%'"):
        cases[key] = {"config": config, "shape": shape, "status": status, "m": {}}
        ids = cid
    byid = {cid: key for cid, key in db.execute("SELECT id, case_key FROM cases WHERE config LIKE 'kv=%'")}
    for cid, name, value in db.execute("SELECT case_id, name, value FROM metrics"):
        if cid in byid:
            cases[byid[cid]]["m"][name] = value
    return cases


def method(config):
    return config[3:].split(":")[0] + (":bits=" + config.split("bits=")[1].split(",")[0] if "kivi" in config else "")


old, new = load(sys.argv[1]), load(sys.argv[2])
keys = sorted(set(old) | set(new))
missing = [k for k in keys if k not in old or k not in new]
agg = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0, 0]))
for k in keys:
    if k in missing:
        continue
    m = method(old[k]["config"])
    for name in METRICS:
        o, n = old[k]["m"].get(name), new[k]["m"].get(name)
        if n is None:
            continue
        a = agg[m][name]
        a[0] += o if o is not None else float("nan")
        a[1] += n
        a[2] += 1

print("| method | cases | accuracy old / new | mass kept old / new | bytes old / new | compress_time old / new (ms) "
      "| compress_kernel_time new (ms) | decode_time old / new (ms) | output error old / new |")
print("|---|---|---|---|---|---|---|---|---|")
for m in sorted(agg):
    a = agg[m]
    n = a["recall_accuracy"][2]
    f = lambda name, i: a[name][i] / max(a[name][2], 1)
    print(f"| {m} | {n} | {f('recall_accuracy',0):.4f} / {f('recall_accuracy',1):.4f} "
          f"| {f('attention_mass_kept',0):.6f} / {f('attention_mass_kept',1):.6f} "
          f"| {f('kv_bytes',0):.0f} / {f('kv_bytes',1):.0f} "
          f"| {1e3*f('compress_time',0):.3f} / {1e3*f('compress_time',1):.3f} "
          f"| {1e3*f('compress_kernel_time',1):.3f} "
          f"| {1e3*f('decode_time',0):.3f} / {1e3*f('decode_time',1):.3f} "
          f"| {f('output_error_vs_full',0):.2e} / {f('output_error_vs_full',1):.2e} |")

print()
status = [(k, old[k]["status"], new[k]["status"]) for k in keys if k not in missing and old[k]["status"] != new[k]["status"]]
print(f"KV cases: {len(keys) - len(missing)} in both runs, {len(missing)} in only one, {len(status)} with a different status.")
for k, o, n in status:
    print(f"- status {o} -> {n}: `{k}`")
print()
print("| case (config, shape) | accuracy old -> new | mass kept old -> new | |mass diff| |")
print("|---|---|---|---|")
changed = 0
maxdm = 0.0
for k in keys:
    if k in missing:
        continue
    o, n = old[k]["m"], new[k]["m"]
    da = abs(o.get("recall_accuracy", 0) - n.get("recall_accuracy", 0))
    dm = abs(o.get("attention_mass_kept", 0) - n.get("attention_mass_kept", 0))
    maxdm = max(maxdm, dm)
    if da > 0 or dm > 1e-6:
        changed += 1
        print(f"| {old[k]['config']} {old[k]['shape']} | {o.get('recall_accuracy')} -> {n.get('recall_accuracy')} "
              f"| {o.get('attention_mass_kept'):.6f} -> {n.get('attention_mass_kept'):.6f} | {dm:.2e} |")
print()
print(f"{changed} cases changed accuracy or mass kept (> 1e-6); largest mass difference {maxdm:.2e}.")
