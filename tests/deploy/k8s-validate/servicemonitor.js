'use strict';
// A minimal schema check of monitoring.coreos.com/v1 ServiceMonitor: the
// fields deploy/k8s uses or may reasonably use, with their types, and no
// others (a misspelled key fails). Not the operator's full CRD schema; extend
// ALLOWED_* when a manifest needs another field. servicemonitor.d.ts is the
// same subset for tsc.

const ALLOWED_SPEC = new Set([
  'jobLabel', 'targetLabels', 'podTargetLabels', 'selector',
  'namespaceSelector', 'endpoints', 'sampleLimit', 'scrapeProtocols',
]);
const ALLOWED_ENDPOINT = new Set([
  'port', 'targetPort', 'path', 'scheme', 'interval', 'scrapeTimeout',
  'honorLabels', 'honorTimestamps', 'params', 'relabelings',
  'metricRelabelings', 'followRedirects', 'enableHttp2', 'filterRunning',
]);
const ALLOWED_SELECTOR = new Set(['matchLabels', 'matchExpressions']);
const ALLOWED_EXPRESSION = new Set(['key', 'operator', 'values']);
const ALLOWED_NAMESPACE_SELECTOR = new Set(['any', 'matchNames']);
const { DURATION, isObject, isStringMap, unknownFields, checkEnvelope } =
  require('./crd');

// Returns the seconds of a Prometheus duration such as "1m30s".
function durationSeconds(text) {
  const m = DURATION.exec(text);
  const n = (i) => (m[i] ? Number(m[i]) : 0);
  return n(2) * 365 * 86400 + n(4) * 7 * 86400 + n(6) * 86400 + n(8) * 3600 +
      n(10) * 60 + n(12) + n(14) / 1000;
}

// Returns a list of problems with obj as a ServiceMonitor; empty when valid.
function checkServiceMonitor(obj) {
  const errors = [];
  const unknown = unknownFields(errors);
  checkEnvelope(obj, errors);
  const spec = obj.spec;
  if (!isObject(spec)) return errors.concat('spec must be an object');
  unknown('spec', spec, ALLOWED_SPEC);
  if (spec.jobLabel !== undefined && typeof spec.jobLabel !== 'string') {
    errors.push('spec.jobLabel must be a string');
  }
  const selector = spec.selector;
  if (!isObject(selector)) {
    errors.push('spec.selector is required');
  } else {
    unknown('spec.selector', selector, ALLOWED_SELECTOR);
    if (selector.matchLabels !== undefined && !isStringMap(selector.matchLabels)) {
      errors.push('spec.selector.matchLabels must map strings to strings');
    }
    (selector.matchExpressions || []).forEach((e, i) => {
      const where = `spec.selector.matchExpressions[${i}]`;
      unknown(where, e, ALLOWED_EXPRESSION);
      if (typeof e.key !== 'string') errors.push(`${where}.key must be a string`);
      if (!['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(e.operator)) {
        errors.push(`${where}.operator must be In, NotIn, Exists or DoesNotExist`);
      }
      const needsValues = e.operator === 'In' || e.operator === 'NotIn';
      if (needsValues !== Array.isArray(e.values)) {
        errors.push(`${where}.values: ${needsValues ? 'required' : 'not allowed'} with ${e.operator}`);
      }
    });
  }
  if (spec.namespaceSelector !== undefined) {
    unknown('spec.namespaceSelector', spec.namespaceSelector, ALLOWED_NAMESPACE_SELECTOR);
  }
  if (!Array.isArray(spec.endpoints) || spec.endpoints.length === 0) {
    return errors.concat('spec.endpoints must be a non-empty list');
  }
  spec.endpoints.forEach((ep, i) => {
    const where = `spec.endpoints[${i}]`;
    if (!isObject(ep)) return errors.push(`${where} must be an object`);
    unknown(where, ep, ALLOWED_ENDPOINT);
    if ((ep.port === undefined) === (ep.targetPort === undefined)) {
      errors.push(`${where}: set exactly one of port and targetPort`);
    }
    if (ep.port !== undefined && typeof ep.port !== 'string') {
      errors.push(`${where}.port must be a port name`);
    }
    if (ep.path !== undefined && !/^\//.test(ep.path)) {
      errors.push(`${where}.path must start with /`);
    }
    if (ep.scheme !== undefined && !['http', 'https'].includes(ep.scheme)) {
      errors.push(`${where}.scheme must be http or https`);
    }
    for (const field of ['interval', 'scrapeTimeout']) {
      if (ep[field] !== undefined &&
          (typeof ep[field] !== 'string' || ep[field] === '' || !DURATION.test(ep[field]))) {
        errors.push(`${where}.${field} "${ep[field]}" is not a Prometheus duration`);
      }
    }
    if (typeof ep.interval === 'string' && typeof ep.scrapeTimeout === 'string' &&
        DURATION.test(ep.interval) && DURATION.test(ep.scrapeTimeout) &&
        durationSeconds(ep.scrapeTimeout) > durationSeconds(ep.interval)) {
      errors.push(`${where}.scrapeTimeout exceeds interval`);
    }
  });
  return errors;
}

module.exports = { checkServiceMonitor };
