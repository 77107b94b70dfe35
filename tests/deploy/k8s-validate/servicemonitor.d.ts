// monitoring.coreos.com/v1 ServiceMonitor: the subset of the Prometheus
// Operator's CRD that servicemonitor.js checks at run time, as TypeScript
// interfaces, so gen_types.js can type a rendered ServiceMonitor like the
// built-in kinds (excess property checks catch misspelled fields).
import type { LabelSelector, ObjectMeta } from 'kubernetes-types/meta/v1';

export interface ServiceMonitor {
  apiVersion: 'monitoring.coreos.com/v1';
  kind: 'ServiceMonitor';
  metadata: ObjectMeta;
  spec: ServiceMonitorSpec;
}

export interface ServiceMonitorSpec {
  jobLabel?: string;
  targetLabels?: string[];
  podTargetLabels?: string[];
  selector: LabelSelector;
  namespaceSelector?: { any?: boolean; matchNames?: string[] };
  endpoints: Endpoint[];
  sampleLimit?: number;
  scrapeProtocols?: string[];
}

export interface Endpoint {
  port?: string;
  targetPort?: number | string;
  path?: string;
  scheme?: 'http' | 'https';
  interval?: string;
  scrapeTimeout?: string;
  honorLabels?: boolean;
  honorTimestamps?: boolean;
  params?: { [name: string]: string[] };
  relabelings?: RelabelConfig[];
  metricRelabelings?: RelabelConfig[];
  followRedirects?: boolean;
  enableHttp2?: boolean;
  filterRunning?: boolean;
}

export interface RelabelConfig {
  sourceLabels?: string[];
  separator?: string;
  targetLabel?: string;
  regex?: string;
  modulus?: number;
  replacement?: string;
  action?: string;
}
