#!/usr/bin/env node
/**
 * Calls activation-service from Node.js and checks every answer.
 *
 * Usage (after `npm ci` in examples/node):
 *   node examples/node/relu_client.js --target 127.0.0.1:PORT [--proto_root DIR]
 *
 * Runs four checks against a running activation_server and prints one line per
 * check: Relu on a raw_data tensor, Relu on a float_data tensor, ReluStream with
 * five requests, and a malformed request that must fail with INVALID_ARGUMENT.
 * Expected values evaluate the DOCUMENTED-mode formula of docs/semantics.md in
 * float32 (Math.fround); results must match bit for bit.
 * Exits 0 when all checks pass, 1 when one fails, 2 on a setup error.
 *
 * The .proto is loaded at run time with @grpc/proto-loader; no generated code.
 */
'use strict';

const path = require('path');
const { parseArgs } = require('util');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_FILE = 'activation/v1/activation.proto';
const TIMEOUT_MS = 10000;
const PARAMS = { max_value: 6, negative_slope: 0.1, threshold: 0 };

const deadline = () => Date.now() + TIMEOUT_MS;
const fmt = (values) => `[${Array.from(values, (v) => Number(v.toPrecision(7))).join(', ')}]`;
const sameShape = (a, b) => a.length === b.length && a.every((d, i) => Number(d) === b[i]);

/** Returns DOCUMENTED-mode ReLU of float32 values xs, evaluated in float32. */
function documentedRelu(xs, { max_value, negative_slope, threshold }) {
  const f = Math.fround;
  const [m, s, t] = [f(max_value), f(negative_slope), f(threshold)];
  const y = xs.map((x) => {
    if (Number.isNaN(x)) return x;
    if (max_value !== undefined && x >= m) return m;
    if (x >= t) return x;
    return s === 0 ? 0 : f(s * f(x - t));
  });
  return Float32Array.from(y);
}

/** Encodes float32 values as little-endian raw_data bytes. */
function toRawData(values) {
  const buf = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => buf.writeFloatLE(v, i * 4));
  return buf;
}

/** Decodes little-endian raw_data bytes into a Float32Array. */
function fromRawData(buf) {
  const out = new Float32Array(buf.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}

/** Throws unless got and want hold the same float32 bit patterns. */
function assertSameBits(got, want) {
  if (got.length !== want.length) {
    throw new Error(`${got.length} elements, want ${want.length}`);
  }
  const [g, w] = [new Uint32Array(Float32Array.from(got).buffer), new Uint32Array(want.buffer)];
  const i = g.findIndex((bits, k) => bits !== w[k]);
  if (i >= 0) throw new Error(`element ${i} is ${got[i]}, want ${want[i]}`);
}

/** Returns a DOCUMENTED-mode ReluRequest for float32 values with PARAMS. */
function request(values, shape, encoding = 'raw_data') {
  const input = { dtype: 'DATA_TYPE_FLOAT32', shape };
  if (encoding === 'raw_data') input.raw_data = toRawData(values);
  else input.float_data = Array.from(values);
  return { input, params: { ...PARAMS, mode: 'MODE_DOCUMENTED' } };
}

/** Throws unless output is documentedRelu(values) with the given shape and encoding. */
function checkOutput(output, values, shape, encoding) {
  if (output.dtype !== 'DATA_TYPE_FLOAT32') throw new Error(`dtype ${output.dtype}, want FLOAT32`);
  if (!sameShape(output.shape, shape)) throw new Error(`shape [${output.shape}], want [${shape}]`);
  const other = encoding === 'raw_data' ? 'float_data' : 'raw_data';
  if (output[other].length !== 0) throw new Error(`response uses ${other}, want ${encoding} only`);
  const got = encoding === 'raw_data' ? fromRawData(output.raw_data) : output.float_data;
  assertSameBits(got, documentedRelu(Float32Array.from(values), PARAMS));
  return Array.from(got);
}

const unary = (client, req) => new Promise((resolve, reject) =>
  client.Relu(req, { deadline: deadline() }, (err, resp) => (err ? reject(err) : resolve(resp))));

const checks = {
  async relu_raw_data(client) {
    const x = [-3, -0.5, 0, 1.5, 6, 7.25];
    const resp = await unary(client, request(x, [2, 3]));
    return `${fmt(x)} -> ${fmt(checkOutput(resp.output, x, [2, 3], 'raw_data'))}`;
  },

  async relu_float_data(client) {
    const x = Array.from(Float32Array.from([-2, -0.25, 0.5, 5.999, 6, 100]));
    const resp = await unary(client, request(x, [6], 'float_data'));
    return `${fmt(x)} -> ${fmt(checkOutput(resp.output, x, [6], 'float_data'))}`;
  },

  async relu_stream(client) {
    const shapes = [[1], [3], [4, 4], [2, 5, 10], [1000]];
    const inputs = shapes.map((shape, k) => {
      const n = shape.reduce((a, b) => a * b, 1);
      return Array.from({ length: n }, (_, i) => Math.fround(((i * 7 + k * 13) % 41) / 2 - 10));
    });
    const responses = await new Promise((resolve, reject) => {
      const got = [];
      const call = client.ReluStream({ deadline: deadline() });
      call.on('data', (resp) => got.push(resp));
      call.on('error', reject);
      call.on('end', () => resolve(got));
      inputs.forEach((x, k) => call.write(request(x, shapes[k])));
      call.end();
    });
    if (responses.length !== inputs.length) {
      throw new Error(`${responses.length} responses, want ${inputs.length}`);
    }
    responses.forEach((resp, k) => {
      try {
        checkOutput(resp.output, inputs[k], shapes[k], 'raw_data');
      } catch (e) {
        throw new Error(`response ${k}: ${e.message}`);
      }
    });
    const shapeList = JSON.stringify(shapes).replace(/,/g, ', ');
    return `${responses.length} responses in order, shapes ${shapeList}`;
  },

  async invalid_argument(client) {
    // 12 bytes where a [2, 2] FLOAT32 tensor needs 16.
    const bad = {
      input: { dtype: 'DATA_TYPE_FLOAT32', shape: [2, 2], raw_data: Buffer.alloc(12) },
    };
    try {
      await unary(client, bad);
    } catch (err) {
      if (err.code !== grpc.status.INVALID_ARGUMENT) throw err;
      if (!String(err.details).includes('raw_data')) {
        throw new Error(`details ${JSON.stringify(err.details)} lack 'raw_data'`);
      }
      return `INVALID_ARGUMENT: ${err.details}`;
    }
    throw new Error('the call succeeded, want INVALID_ARGUMENT');
  },
};

async function main() {
  const { values: args } = parseArgs({
    options: {
      target: { type: 'string' },
      proto_root: { type: 'string', default: path.join(__dirname, '..', '..', 'proto') },
    },
  });
  if (!args.target) {
    console.error('usage: node relu_client.js --target HOST:PORT [--proto_root DIR]');
    return 2;
  }
  const definition = protoLoader.loadSync(PROTO_FILE, {
    keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
    includeDirs: [args.proto_root],
  });
  const { ActivationService } = grpc.loadPackageDefinition(definition).activation.v1;
  const client = new ActivationService(args.target, grpc.credentials.createInsecure());
  try {
    await new Promise((resolve, reject) =>
      client.waitForReady(deadline(), (err) => (err ? reject(err) : resolve())));
  } catch (err) {
    console.error(`setup: no server at ${args.target}: ${err.message}`);
    client.close();
    return 2;
  }
  let failed = 0;
  for (const [name, check] of Object.entries(checks)) {
    try {
      console.log(`PASS ${name}: ${await check(client)}`);
    } catch (err) {
      failed += 1;
      const why = err.code !== undefined ? `${grpc.status[err.code]}: ${err.details}` : err.message;
      console.log(`FAIL ${name}: ${why}`);
    }
  }
  client.close();
  const total = Object.keys(checks).length;
  console.log(`${total - failed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

main().then((code) => { process.exitCode = code; }, (err) => {
  console.error(`setup: ${err.stack || err}`);
  process.exitCode = 2;
});
