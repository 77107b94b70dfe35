'use strict';
// What servicemonitor.js and prometheusrule.js share: Prometheus's duration
// syntax, and the checks every custom resource's envelope gets.

// Prometheus's duration syntax (model.ParseDuration).
const DURATION =
    /^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isStringMap = (v) =>
  isObject(v) && Object.values(v).every((s) => typeof s === 'string');

// Returns a checker that adds "<where>.<key> is not a known field" to errors
// for each key of value outside allowed.
function unknownFields(errors) {
  return (where, value, allowed) => {
    for (const key of Object.keys(value)) {
      if (!allowed.has(key)) errors.push(`${where}.${key} is not a known field`);
    }
  };
}

// Checks apiVersion/kind/metadata/spec and no other top-level field, and
// metadata's name and labels; adds problems to errors.
function checkEnvelope(obj, errors) {
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
}

module.exports = { DURATION, isObject, isStringMap, unknownFields, checkEnvelope };
