'use strict';
// The kinds deploy/k8s may render, each with its kubernetes-models class (for
// runtime validation) and its kubernetes-types interface (for tsc --strict).
// A kind missing here fails both checks: add it here when a manifest needs it.
// ServiceMonitor and PrometheusRule are CRDs that neither package knows:
// validate.js checks each with its own `check` (servicemonitor.js,
// prometheusrule.js), and tsc with the matching .d.ts.

const KINDS = {
  'v1/ConfigMap': {
    model: ['kubernetes-models/v1/ConfigMap', 'ConfigMap'],
    type: ['kubernetes-types/core/v1', 'ConfigMap'],
  },
  'v1/Secret': {
    model: ['kubernetes-models/v1/Secret', 'Secret'],
    type: ['kubernetes-types/core/v1', 'Secret'],
  },
  'v1/Service': {
    model: ['kubernetes-models/v1/Service', 'Service'],
    type: ['kubernetes-types/core/v1', 'Service'],
  },
  'v1/ServiceAccount': {
    model: ['kubernetes-models/v1/ServiceAccount', 'ServiceAccount'],
    type: ['kubernetes-types/core/v1', 'ServiceAccount'],
  },
  'apps/v1/Deployment': {
    model: ['kubernetes-models/apps/v1/Deployment', 'Deployment'],
    type: ['kubernetes-types/apps/v1', 'Deployment'],
  },
  'autoscaling/v2/HorizontalPodAutoscaler': {
    model: ['kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler',
      'HorizontalPodAutoscaler'],
    type: ['kubernetes-types/autoscaling/v2', 'HorizontalPodAutoscaler'],
  },
  'policy/v1/PodDisruptionBudget': {
    model: ['kubernetes-models/policy/v1/PodDisruptionBudget',
      'PodDisruptionBudget'],
    type: ['kubernetes-types/policy/v1', 'PodDisruptionBudget'],
  },
  'networking.k8s.io/v1/NetworkPolicy': {
    model: ['kubernetes-models/networking.k8s.io/v1/NetworkPolicy',
      'NetworkPolicy'],
    type: ['kubernetes-types/networking/v1', 'NetworkPolicy'],
  },
  'monitoring.coreos.com/v1/ServiceMonitor': {
    check: ['./servicemonitor', 'checkServiceMonitor'],
    type: ['./servicemonitor', 'ServiceMonitor'],
  },
  'monitoring.coreos.com/v1/PrometheusRule': {
    check: ['./prometheusrule', 'checkPrometheusRule'],
    type: ['./prometheusrule', 'PrometheusRule'],
  },
};

// Returns "apiVersion/kind" of a manifest object.
function kindKey(obj) {
  return `${obj.apiVersion}/${obj.kind}`;
}

// Returns "Kind/name" for messages.
function describe(obj) {
  return `${obj.kind}/${obj.metadata && obj.metadata.name}`;
}

// Reads manifests from "label=path" arguments: returns [{label, objects}],
// each path a multi-document YAML file (kubectl kustomize's output).
function readRenders(args) {
  const fs = require('fs');
  const YAML = require('yaml');
  return args.map((arg) => {
    const at = arg.indexOf('=');
    if (at <= 0) throw new Error(`expected LABEL=FILE, got "${arg}"`);
    const label = arg.slice(0, at);
    const file = arg.slice(at + 1);
    const docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'));
    const objects = [];
    for (const doc of docs) {
      if (doc.errors.length) {
        throw new Error(`${label}: YAML: ${doc.errors[0].message}`);
      }
      const obj = doc.toJS();
      if (obj !== null) objects.push(obj);
    }
    if (objects.length === 0) throw new Error(`${label}: no objects in ${file}`);
    return { label, objects };
  });
}

// Deliberate mistakes for the checks' self-tests (check_k8s.sh runs each and
// expects the check to fail): applied to every Deployment.
const MUTATIONS = {
  // Misspelled field: only the TypeScript excess-property check sees it.
  replica: (d) => { d.spec.replica = 3; },
  // Wrong type: the kubernetes-models schema sees it.
  'replicas-string': (d) => { d.spec.replicas = '3'; },
  // A drain that SIGKILL would cut short: the invariants see it.
  'short-grace': (d) => { d.spec.template.spec.terminationGracePeriodSeconds = 20; },
};

// Applies MUTATIONS[name] to each Deployment in renders; name may be empty.
function mutate(renders, name) {
  if (!name) return;
  const fn = MUTATIONS[name];
  if (!fn) throw new Error(`unknown mutation "${name}"`);
  for (const { objects } of renders) {
    for (const obj of objects) if (obj.kind === 'Deployment') fn(obj);
  }
}

module.exports = { KINDS, kindKey, describe, readRenders, mutate };
