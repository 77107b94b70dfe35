'use strict';
// What servicemonitor.js, prometheusrule.js and kserve.js share: Prometheus's
// duration syntax, the checks every custom resource's envelope gets, and a
// small JSON Schema checker.

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

const JSON_TYPES = {
  object: isObject,
  array: Array.isArray,
  string: (v) => typeof v === 'string',
  integer: Number.isInteger,
  number: (v) => typeof v === 'number' && Number.isFinite(v),
  boolean: (v) => typeof v === 'boolean',
};

// Checks value against a JSON Schema (the keywords type, enum, const,
// pattern, minimum, maximum, minItems, items, properties, required,
// additionalProperties and $ref into defs); adds "<where>...: problem" to
// errors. An unknown key under additionalProperties: false reads
// "<where>.<key> is not a known field".
function checkJsonSchema(schema, value, where, errors, defs = {}) {
  if (schema.$ref) {
    const name = schema.$ref.replace(/^#\/\$defs\//, '');
    if (!defs[name]) throw new Error(`schema: no $defs/${name}`);
    return checkJsonSchema(defs[name], value, where, errors, defs);
  }
  if (schema.type && !JSON_TYPES[schema.type](value)) {
    return errors.push(`${where} must be ${schema.type === 'array' || schema.type === 'object' ? 'an' : 'a'} ${schema.type}, got ${JSON.stringify(value)}`);
  }
  if (schema.enum && !schema.enum.includes(value)) {
    errors.push(`${where} ${JSON.stringify(value)} is not one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}`);
  }
  if (schema.const !== undefined && value !== schema.const) {
    errors.push(`${where} must be ${JSON.stringify(schema.const)}, got ${JSON.stringify(value)}`);
  }
  if (schema.pattern && !new RegExp(schema.pattern).test(value)) {
    errors.push(`${where} ${JSON.stringify(value)} does not match ${schema.pattern}`);
  }
  if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${where} must be >= ${schema.minimum}`);
  if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${where} must be <= ${schema.maximum}`);
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) {
      errors.push(`${where} needs at least ${schema.minItems} item(s)`);
    }
    if (schema.items) value.forEach((v, i) => checkJsonSchema(schema.items, v, `${where}[${i}]`, errors, defs));
  }
  if (isObject(value)) {
    for (const key of schema.required || []) {
      if (!(key in value)) errors.push(`${where}.${key} is required`);
    }
    const properties = schema.properties || {};
    for (const [key, v] of Object.entries(value)) {
      if (properties[key]) {
        checkJsonSchema(properties[key], v, `${where}.${key}`, errors, defs);
      } else if (schema.additionalProperties === false) {
        errors.push(`${where}.${key} is not a known field`);
      } else if (isObject(schema.additionalProperties)) {
        checkJsonSchema(schema.additionalProperties, v, `${where}.${key}`, errors, defs);
      }
    }
  }
  return errors;
}

module.exports = {
  DURATION, isObject, isStringMap, unknownFields, checkEnvelope, checkJsonSchema,
};
