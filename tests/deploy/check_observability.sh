#!/usr/bin/env bash
# Checks the observability configs in deploy/ without a running Prometheus or
# Grafana:
#   1. promtool check config deploy/prometheus/prometheus.yml
#   2. promtool check rules  deploy/prometheus/alerts.yml
#   3. promtool test rules   deploy/prometheus/alerts_test.yml, and the
#      Prometheus Operator overlay's prometheusrule.yaml carries the same
#      groups (deploy/prometheus/prometheusrule.py --check)
#   4. deploy/grafana/activation-dashboard.json: valid JSON; every panel has a
#      title and a target; every target's PromQL parses (promtool check rules
#      on a generated rules file, Grafana variables replaced by values); every
#      metric it names is one the server exports (server/*metrics.cc), a
#      recording rule of alerts.yml, or `up`.
#   5. docs/metrics.md: the same for every expression in its promql blocks.
# Prints each check; exits non-zero on the first failure.
#
#   tests/deploy/check_observability.sh        # from any directory
#   PROMTOOL=/path/to/promtool tests/deploy/check_observability.sh
#
# Debian's promtool is built without Kubernetes service discovery, so it
# rejects kubernetes_sd_configs. With such a promtool, step 1 checks a copy of
# prometheus.yml whose kubernetes_sd_configs (role checked here) become empty
# static_configs: every other field, the relabelling and the rule files are
# still checked. An upstream promtool checks the file as it is.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
promtool="${PROMTOOL:-promtool}"
python=/usr/bin/python3
prometheus_dir="$root/deploy/prometheus"
config="$prometheus_dir/prometheus.yml"
rules="$prometheus_dir/alerts.yml"
rules_test="$prometheus_dir/alerts_test.yml"
dashboard="$root/deploy/grafana/activation-dashboard.json"
# The files that name every exported metric, colon-separated.
metrics_source="$root/server/metrics.cc:$root/server/process_metrics.cc"
doc="$root/docs/metrics.md"

die() { echo "FAIL: $*" >&2; exit 1; }
step() { echo; echo "== $*"; }

command -v "$promtool" >/dev/null || die "promtool not found (set PROMTOOL)"
[[ -x "$python" ]] || die "$python not found"
"$python" -c 'import yaml' 2>/dev/null ||
  die "needs PyYAML: apt-get install python3-yaml"
for file in "$config" "$rules" "$rules_test" "$dashboard" \
    ${metrics_source//:/ } "$doc"; do
  [[ -f "$file" ]] || die "missing $file"
done
echo "promtool: $("$promtool" --version 2>&1 | head -n 1)"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

step "promtool check config ${config#"$root"/}"
if output="$("$promtool" check config "$config" 2>&1)"; then
  echo "$output"
elif grep -q 'field kubernetes_sd_configs not found' <<<"$output"; then
  echo "this promtool has no Kubernetes service discovery (Debian build);"
  echo "checking a copy with kubernetes_sd_configs replaced by static_configs"
  "$python" - "$config" "$tmp/prometheus.yml" <<'EOF' || die "prometheus.yml"
import os
import sys

import yaml

source, target = sys.argv[1], sys.argv[2]
ROLES = {"node", "service", "pod", "endpoints", "endpointslice", "ingress"}
with open(source) as f:
    config = yaml.safe_load(f)
for job in config.get("scrape_configs", []):
    sds = job.pop("kubernetes_sd_configs", None)
    if sds is None:
        continue
    for sd in sds:
        if sd.get("role") not in ROLES:
            sys.exit(f"FAIL: job {job['job_name']}: kubernetes_sd_configs role "
                     f"{sd.get('role')!r} is not one of {sorted(ROLES)}")
    print(f"  job {job['job_name']}: kubernetes_sd_configs roles "
          f"{[sd['role'] for sd in sds]} ok; relabel_configs checked below")
    job.setdefault("static_configs", []).append({"targets": []})
# Rule files resolve against the config's directory; keep them resolving.
base = os.path.dirname(os.path.abspath(source))
config["rule_files"] = [os.path.join(base, r) for r in config.get("rule_files", [])]
with open(target, "w") as f:
    yaml.safe_dump(config, f, sort_keys=False)
EOF
  "$promtool" check config "$tmp/prometheus.yml" || die "prometheus.yml"
else
  echo "$output"
  die "prometheus.yml"
fi

step "promtool check rules ${rules#"$root"/}"
"$promtool" check rules "$rules" || die "alerts.yml"

step "promtool test rules ${rules_test#"$root"/}"
"$promtool" test rules "$rules_test" || die "alerts_test.yml"

step "overlays/prometheus-operator/prometheusrule.yaml = alerts.yml"
"$python" "$prometheus_dir/prometheusrule.py" --check || die "prometheusrule.yaml"

step "dashboard ${dashboard#"$root"/} and ${doc#"$root"/}: JSON, panels, metric names"
"$python" - "$dashboard" "$rules" "$metrics_source" "$doc" \
  "$tmp/dashboard_rules.yml" \
  <<'EOF' || die "dashboard"
import json
import re
import sys

import yaml

dashboard_path, rules_path, metrics_source, doc_path, out_path = sys.argv[1:]

# The metrics server/metrics.cc and process_metrics.cc export
# (docs/metrics.md).
COUNTERS_AND_GAUGES = [
    "grpc_server_started_total", "grpc_server_handled_total",
    "grpc_server_msg_received_total", "grpc_server_msg_sent_total",
    "activation_elements_total", "activation_payload_bytes_total",
    "activation_inflight_requests", "activation_memory_held_bytes",
    "activation_rejected_total",
    "process_start_time_seconds", "process_cpu_seconds_total",
    "process_resident_memory_bytes", "process_virtual_memory_bytes",
    "process_open_fds", "process_max_fds", "activation_build_info",
]
HISTOGRAMS = ["grpc_server_handling_seconds", "activation_compute_seconds"]

failures = []

def fail(message):
    failures.append(message)
    print(f"  FAIL: {message}")

# The list above must not drift from the source.
source = "".join(open(path).read() for path in metrics_source.split(":"))
for name in COUNTERS_AND_GAUGES + HISTOGRAMS:
    if f'"{name}"' not in source:
        fail(f'metric list: "{name}" does not appear in {metrics_source}')

with open(rules_path) as f:
    recorded = {rule["record"] for group in yaml.safe_load(f)["groups"]
                for rule in group["rules"] if "record" in rule}
known = set(COUNTERS_AND_GAUGES) | recorded | {"up"}
for name in HISTOGRAMS:
    known |= {name + "_bucket", name + "_sum", name + "_count"}

KEYWORDS = {"and", "or", "unless", "bool", "by", "without", "on", "ignoring",
            "group_left", "group_right", "offset", "inf", "nan"}

def metric_names(expr):
    """Returns the metric names a PromQL expression selects."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)           # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)          # ranges, subqueries
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",
               " ", s)                           # label lists
    s = re.sub(r"\boffset\s+-?[0-9a-z]+", " ", s)
    s = re.sub(r"(?<![\w:.])(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?(?![\w:])", " ", s)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", s):
        if s[m.end():].lstrip().startswith("("):
            continue  # a function or an aggregation
        if m.group(0).lower() not in KEYWORDS:
            names.add(m.group(0))
    return names

def check_names(where, expr):
    names = metric_names(expr)
    unknown = sorted(names - known)
    if unknown:
        fail(f"{where}: unknown metric(s) {unknown} in: {expr}")
    return names

# Recording rules and alerts use only known metrics too.
with open(rules_path) as f:
    for group in yaml.safe_load(f)["groups"]:
        for rule in group["rules"]:
            check_names(f"alerts.yml {rule.get('record') or rule.get('alert')}",
                        rule["expr"])
print(f"  alerts.yml: {len(recorded)} recording rules; every rule names only "
      "known metrics")

with open(dashboard_path) as f:
    dashboard = json.load(f)  # raises on invalid JSON
print(f"  valid JSON: \"{dashboard.get('title')}\", schemaVersion "
      f"{dashboard.get('schemaVersion')}")

# Values for Grafana's variables, so the expressions become plain PromQL.
values = {"__rate_interval": "1m", "__interval": "1m", "__range": "1h",
          "__range_s": "3600", "__range_ms": "3600000", "__interval_ms": "60000"}
variables = dashboard.get("templating", {}).get("list", [])
for var in variables:
    kind, name = var.get("type"), var.get("name")
    if kind in ("textbox", "constant"):
        values[name] = str(var.get("query", ""))
    elif kind == "custom":
        values[name] = str(var.get("query", "")).split(",")[0].strip()
    elif kind == "interval":
        values[name] = "1m"
    else:  # query, datasource: used inside label matchers
        values[name] = "x"
names_by_type = {v.get("name"): v.get("type") for v in variables}
if names_by_type.get("datasource") != "datasource" or \
        next(v for v in variables if v["name"] == "datasource").get("query") != "prometheus":
    fail("templating: want a datasource variable of type prometheus")
for name in ("job", "instance"):
    if name not in names_by_type:
        fail(f"templating: no {name} variable")

def substitute(text, where):
    def value(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in values:
            fail(f"{where}: unknown variable ${name}")
            return "x"
        return values[name]
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)", value, text)

for var in variables:
    if var.get("type") != "query":
        continue
    query = var["query"]["query"] if isinstance(var.get("query"), dict) else var.get("query", "")
    m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\)\s*", query)
    selector = m.group(1) if m else query
    check_names(f"variable ${var['name']}", substitute(selector, f"variable {var['name']}"))
    print(f"  variable ${var['name']}: {query}")

def leaf_panels(panels):
    for panel in panels:
        if panel.get("type") == "row":
            yield from leaf_panels(panel.get("panels", []))
        else:
            yield panel

recording_rules = []
all_names = set()
panels = list(leaf_panels(dashboard.get("panels", [])))
ids = [p.get("id") for p in panels]
if len(set(ids)) != len(ids):
    fail(f"panel ids not unique: {ids}")
for panel in panels:
    title = panel.get("title", "").strip()
    where = f"panel {panel.get('id')} \"{title}\""
    if not title:
        fail(f"panel {panel.get('id')}: no title")
    targets = panel.get("targets") or []
    if not targets:
        fail(f"{where}: no targets")
    for target in targets:
        expr = target.get("expr", "").strip()
        if not expr:
            fail(f"{where} target {target.get('refId')}: no expr")
            continue
        concrete = substitute(expr, where)
        all_names |= check_names(where, concrete)
        recording_rules.append({
            "record": f"dashboard:panel_{panel.get('id')}_{target.get('refId')}",
            "expr": concrete,
        })
    print(f"  {where}: {len(targets)} target(s)")

print(f"  {len(recording_rules)} expressions name {len(all_names)} metrics, "
      f"all known: {', '.join(sorted(all_names))}")

# docs/metrics.md: each ```promql block holds expressions separated by blank
# lines.
doc = open(doc_path).read()
doc_exprs = [chunk.strip()
             for block in re.findall(r"```promql\n(.*?)```", doc, re.S)
             for chunk in re.split(r"\n\s*\n", block) if chunk.strip()]
if not doc_exprs:
    fail("docs/metrics.md: no promql blocks")
doc_names = set()
for i, expr in enumerate(doc_exprs):
    doc_names |= check_names(f"docs/metrics.md expression {i + 1}", expr)
    recording_rules.append({"record": f"docs:expr_{i + 1}", "expr": expr})
print(f"  docs/metrics.md: {len(doc_exprs)} expressions name "
      f"{len(doc_names)} metrics, all known")
with open(out_path, "w") as f:
    json.dump({"groups": [{"name": "dashboard", "rules": recording_rules}]},
              f, indent=2)
sys.exit(1 if failures else 0)
EOF

step "dashboard and docs expressions parse (promtool check rules on them as recording rules)"
"$promtool" check rules "$tmp/dashboard_rules.yml" || die "dashboard or docs PromQL"

echo
echo "OK: all observability checks passed"
