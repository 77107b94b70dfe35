#!/usr/bin/python3
"""Writes alerts.yml's rule groups as a Prometheus Operator PrometheusRule.

    deploy/prometheus/prometheusrule.py           # rewrites the overlay's file
    deploy/prometheus/prometheusrule.py --check   # fails if it is stale

alerts.yml is the source (promtool checks and unit-tests it); the overlay
deploy/k8s/overlays/prometheus-operator ships the same groups as
prometheusrule.yaml. tests/deploy/check_observability.sh runs --check.
"""

import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "alerts.yml")
TARGET = os.path.join(HERE, "..", "k8s", "overlays", "prometheus-operator",
                      "prometheusrule.yaml")
HEADER = """\
# Generated from deploy/prometheus/alerts.yml by
# deploy/prometheus/prometheusrule.py: edit alerts.yml and rerun it (CI fails
# when this file is stale). The same recording and alerting rules, for the
# Prometheus Operator: your Prometheus resource's ruleSelector must select
# this object (kube-prometheus-stack wants the label release: <release>).
"""


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper, value):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render():
    with open(SOURCE) as f:
        groups = yaml.safe_load(f)["groups"]
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "activation-service",
            "labels": {
                "app.kubernetes.io/name": "activation-service",
                "app.kubernetes.io/component": "server",
            },
        },
        "spec": {"groups": groups},
    }
    return HEADER + yaml.dump(rule, Dumper=_Dumper, sort_keys=False,
                              width=1000)


def main():
    if sys.argv[1:] not in ([], ["--check"]):
        sys.exit("usage: prometheusrule.py [--check]")
    text = render()
    if sys.argv[1:] == ["--check"]:
        with open(TARGET) as f:
            current = f.read()
        if current != text:
            sys.exit("prometheusrule.yaml is stale: run "
                     "deploy/prometheus/prometheusrule.py")
        print("prometheusrule.yaml matches alerts.yml")
        return
    with open(TARGET, "w") as f:
        f.write(text)
    print("wrote", os.path.relpath(TARGET))


if __name__ == "__main__":
    main()
