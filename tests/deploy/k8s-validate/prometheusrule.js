'use strict';
// A minimal schema check of monitoring.coreos.com/v1 PrometheusRule: the
// fields of Prometheus rule files (groups of recording and alerting rules),
// with their types, and no others (a misspelled key fails). The rules
// themselves are checked by promtool in tests/deploy/check_observability.sh.
// prometheusrule.d.ts is the same subset for tsc.

const ALLOWED_GROUP = new Set(['name', 'interval', 'limit', 'rules']);
const ALLOWED_RULE = new Set([
  'record', 'alert', 'expr', 'for', 'keep_firing_for', 'labels', 'annotations',
]);
// Prometheus's duration syntax (model.ParseDuration).
const DURATION =
    /^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

// Returns a list of problems with obj as a PrometheusRule; empty when valid.
function checkPrometheusRule(obj) {
  const errors = [];
  const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const isStringMap = (v) =>
    isObject(v) && Object.values(v).every((s) => typeof s === 'string');
  const unknown = (where, value, allowed) => {
    for (const key of Object.keys(value)) {
      if (!allowed.has(key)) errors.push(`${where}.${key} is not a known field`);
    }
  };
  const duration = (where, value) => {
    if (value !== undefined &&
        (typeof value !== 'string' || value === '' || !DURATION.test(value))) {
      errors.push(`${where} "${value}" is not a Prometheus duration`);
    }
  };

  for (const key of Object.keys(obj)) {
    if (!['apiVersion', 'kind', 'metadata', 'spec'].includes(key)) {
      errors.push(`${key} is not a known top-level field`);
    }
  }
  const meta = obj.metadata;
  if (!isObject(meta) || typeof meta.name !== 'string' || !DNS_LABEL.test(meta.name)) {
    errors.push('metadata.name must be a DNS label');
  } else if (meta.labels !== undefined && !isStringMap(meta.labels)) {
    errors.push('metadata.labels must map strings to strings');
  }
  const spec = obj.spec;
  if (!isObject(spec)) return errors.concat('spec must be an object');
  unknown('spec', spec, new Set(['groups']));
  if (!Array.isArray(spec.groups) || spec.groups.length === 0) {
    return errors.concat('spec.groups must be a non-empty list');
  }
  const names = new Set();
  spec.groups.forEach((group, g) => {
    const where = `spec.groups[${g}]`;
    if (!isObject(group)) return errors.push(`${where} must be an object`);
    unknown(where, group, ALLOWED_GROUP);
    if (typeof group.name !== 'string' || group.name === '') {
      errors.push(`${where}.name must be a non-empty string`);
    } else if (names.has(group.name)) {
      errors.push(`${where}.name "${group.name}" repeats another group's`);
    }
    names.add(group.name);
    duration(`${where}.interval`, group.interval);
    if (!Array.isArray(group.rules) || group.rules.length === 0) {
      return errors.push(`${where}.rules must be a non-empty list`);
    }
    group.rules.forEach((rule, r) => {
      const at = `${where}.rules[${r}]`;
      if (!isObject(rule)) return errors.push(`${at} must be an object`);
      unknown(at, rule, ALLOWED_RULE);
      if ((rule.record === undefined) === (rule.alert === undefined)) {
        errors.push(`${at}: set exactly one of record and alert`);
      }
      if (typeof rule.expr !== 'string' || rule.expr.trim() === '') {
        errors.push(`${at}.expr must be a non-empty string`);
      }
      duration(`${at}.for`, rule.for);
      duration(`${at}.keep_firing_for`, rule.keep_firing_for);
      for (const field of ['labels', 'annotations']) {
        if (rule[field] !== undefined && !isStringMap(rule[field])) {
          errors.push(`${at}.${field} must map strings to strings`);
        }
      }
      if (rule.record !== undefined &&
          (rule.for !== undefined || rule.annotations !== undefined)) {
        errors.push(`${at}: a recording rule takes no for or annotations`);
      }
    });
  });
  return errors;
}

module.exports = { checkPrometheusRule };
