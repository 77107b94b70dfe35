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
const { DURATION, isObject, isStringMap, unknownFields, checkEnvelope } =
  require('./crd');

// Returns a list of problems with obj as a PrometheusRule; empty when valid.
function checkPrometheusRule(obj) {
  const errors = [];
  const unknown = unknownFields(errors);
  const duration = (where, value) => {
    if (value !== undefined &&
        (typeof value !== 'string' || value === '' || !DURATION.test(value))) {
      errors.push(`${where} "${value}" is not a Prometheus duration`);
    }
  };

  checkEnvelope(obj, errors);
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
