// monitoring.coreos.com/v1 PrometheusRule: the subset of the Prometheus
// Operator's CRD that prometheusrule.js checks at run time, as TypeScript
// interfaces, so gen_types.js can type a rendered PrometheusRule like the
// built-in kinds (excess property checks catch misspelled fields).
import type { ObjectMeta } from 'kubernetes-types/meta/v1';

export interface PrometheusRule {
  apiVersion: 'monitoring.coreos.com/v1';
  kind: 'PrometheusRule';
  metadata: ObjectMeta;
  spec: { groups: RuleGroup[] };
}

export interface RuleGroup {
  name: string;
  interval?: string;
  limit?: number;
  rules: Rule[];
}

export interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  keep_firing_for?: string;
  labels?: { [name: string]: string };
  annotations?: { [name: string]: string };
}
