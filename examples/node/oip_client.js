#!/usr/bin/env node
/**
 * Calls activation-service's Open Inference Protocol (KServe v2) API from
 * Node.js, over gRPC and over HTTP/REST, and checks every answer.
 *
 * Usage (after `npm ci` in examples/node):
 *   node examples/node/oip_client.js --target 127.0.0.1:GRPC_PORT \
 *       [--url http://127.0.0.1:HTTP_PORT] [--proto_root DIR]
 *
 * gRPC (inference.GRPCInferenceService, loaded at run time with
 * @grpc/proto-loader; no generated code):
 *   grpc_health       ServerLive, ServerReady, ModelReady, ModelMetadata;
 *   grpc_fp32_raw     FP32 in raw_input_contents with max_value,
 *                     negative_slope and threshold, answered raw, id echoed;
 *   grpc_int32        INT32 in contents.int_contents, max_value as int64_param;
 *   grpc_not_found    an unknown model: NOT_FOUND.
 * REST (only with --url; Node's global fetch, Node 18 or newer):
 *   rest_health       GET /v2/health/live, /v2/health/ready, /v2/models/relu/ready;
 *   rest_metadata     GET /v2/models/relu;
 *   rest_fp32_json    POST /v2/models/relu/infer, FP32 as JSON "data";
 *   rest_int16_json   INT16 as JSON, saturating at -32768;
 *   rest_fp32_binary  Triton's binary tensor data extension both ways;
 *   rest_error        a short binary tensor: 400 and {"error": "..."}.
 * Expected values evaluate the DOCUMENTED formula of docs/semantics.md here:
 * FP32 in float32 (Math.fround), bit for bit; integers exactly.
 * Exits 0 when all checks pass, 1 when one fails, 2 on a setup error.
 */
'use strict';

const path = require('path');
const { parseArgs } = require('util');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_FILE = 'inference/grpc_predict_v2.proto';
const MODEL = 'relu';
const VERSION = '1';
const TIMEOUT_MS = 10000;
const FP32_PARAMS = { max_value: 6, negative_slope: 0.1, threshold: 0.5 };

const deadline = () => Date.now() + TIMEOUT_MS;
const fmt = (values) => `[${Array.from(values, (v) => Number(Number(v).toPrecision(7))).join(', ')}]`;

/** Returns DOCUMENTED-mode ReLU of float32 values xs, evaluated in float32. */
function documentedReluFp32(xs, { max_value, negative_slope, threshold }) {
  const f = Math.fround;
  const [m, s, t] = [f(max_value), f(negative_slope), f(threshold)];
  return Float32Array.from(xs, (x) => {
    if (Number.isNaN(x)) return x;
    if (max_value !== undefined && x >= m) return m;
    if (x >= t) return x;
    return s === 0 ? 0 : f(s * f(x - t));
  });
}

/**
 * Returns DOCUMENTED-mode ReLU of integers xs for a type holding [lo, hi]:
 * exact comparisons, the cap and the lower branch truncated toward zero and
 * saturated (docs/semantics.md, "Integers").
 */
function documentedReluInt(xs, lo, hi, { max_value, negative_slope = 0, threshold = 0 }) {
  const clamp = (v) => Math.max(lo, Math.min(hi, v));
  return xs.map((x) => {
    if (max_value !== undefined && x >= Math.ceil(max_value)) return clamp(Math.trunc(max_value));
    if (x >= Math.ceil(threshold)) return x;
    if (negative_slope === 0) return 0;
    return clamp(Math.trunc(negative_slope * (x - threshold)));
  });
}

/** Encodes float32 values as little-endian bytes. */
function toFloat32Le(values) {
  const buf = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => buf.writeFloatLE(v, i * 4));
  return buf;
}

/** Decodes little-endian float32 bytes. */
function fromFloat32Le(buf) {
  return Float32Array.from({ length: buf.length / 4 }, (_, i) => buf.readFloatLE(i * 4));
}

/** Throws unless got and want hold the same float32 bit patterns. */
function assertSameBits(got, want) {
  if (got.length !== want.length) throw new Error(`${got.length} elements, want ${want.length}`);
  const g = new Uint32Array(Float32Array.from(got).buffer);
  const w = new Uint32Array(Float32Array.from(want).buffer);
  const i = g.findIndex((bits, k) => bits !== w[k]);
  if (i >= 0) throw new Error(`element ${i} is ${got[i]}, want ${want[i]}`);
}

/** Throws unless got and want hold the same integers. */
function assertSameInts(got, want) {
  const g = got.map(Number);
  if (g.length !== want.length || g.some((v, i) => v !== want[i])) {
    throw new Error(`[${g}], want [${want}]`);
  }
}

/** Throws unless the tensor has this name, datatype and shape. */
function checkTensor(tensor, datatype, shape) {
  if (tensor.name !== 'output') throw new Error(`output name ${JSON.stringify(tensor.name)}`);
  if (tensor.datatype !== datatype) throw new Error(`datatype ${tensor.datatype}, want ${datatype}`);
  const got = tensor.shape.map(Number);
  if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
    throw new Error(`shape [${got}], want [${shape}]`);
  }
}

// ---------------------------------------------------------------- gRPC

const unary = (client, method, req) => new Promise((resolve, reject) =>
  client[method](req, { deadline: deadline() }, (err, resp) => (err ? reject(err) : resolve(resp))));

/** Returns InferParameters for a plain object: strings, int64s (integers), doubles. */
function grpcParams(params) {
  return Object.fromEntries(Object.entries(params).map(([name, v]) => {
    if (typeof v === 'string') return [name, { string_param: v }];
    return [name, Number.isInteger(v) ? { int64_param: v } : { double_param: v }];
  }));
}

/** Throws unless resp is model relu's answer to request id with one output. */
function checkGrpcEnvelope(resp, id) {
  if (resp.model_name !== MODEL || resp.model_version !== VERSION) {
    throw new Error(`model ${resp.model_name} version ${resp.model_version}`);
  }
  if (resp.id !== id) throw new Error(`id ${JSON.stringify(resp.id)}, want ${JSON.stringify(id)}`);
  if (resp.outputs.length !== 1) throw new Error(`${resp.outputs.length} outputs, want 1`);
  return resp.outputs[0];
}

const grpcChecks = {
  async grpc_health(client) {
    if (!(await unary(client, 'ServerLive', {})).live) throw new Error('not live');
    if (!(await unary(client, 'ServerReady', {})).ready) throw new Error('not ready');
    if (!(await unary(client, 'ModelReady', { name: MODEL, version: VERSION })).ready) {
      throw new Error('model relu not ready');
    }
    const meta = await unary(client, 'ModelMetadata', { name: MODEL });
    if (meta.name !== MODEL || !meta.versions.includes(VERSION)) {
      throw new Error(`ModelMetadata ${meta.name} versions [${meta.versions}]`);
    }
    const tensors = [...meta.inputs, ...meta.outputs].map((t) => t.name);
    if (tensors.join() !== 'input,output') throw new Error(`tensors [${tensors}]`);
    return `live, ready, model ${meta.name} versions [${meta.versions}], platform ${meta.platform}`;
  },

  async grpc_fp32_raw(client) {
    const x = Array.from(Float32Array.from([-3, -0.5, 0, 0.25, 0.5, 1.5, 6, 7.25]));
    const resp = await unary(client, 'ModelInfer', {
      model_name: MODEL, model_version: VERSION, id: 'node-fp32',
      parameters: grpcParams(FP32_PARAMS),
      inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 4] }],
      raw_input_contents: [toFloat32Le(x)],
    });
    checkTensor(checkGrpcEnvelope(resp, 'node-fp32'), 'FP32', [2, 4]);
    if (resp.raw_output_contents.length !== 1) {
      throw new Error(`${resp.raw_output_contents.length} raw_output_contents, want 1`);
    }
    const got = fromFloat32Le(resp.raw_output_contents[0]);
    assertSameBits(got, documentedReluFp32(x, FP32_PARAMS));
    return `${fmt(x)} -> ${fmt(got)}`;
  },

  async grpc_int32(client) {
    const x = [-2147483648, -70000, -3, 0, 2, 3, 70000];
    const params = { max_value: 3, negative_slope: 0.5 };
    const resp = await unary(client, 'ModelInfer', {
      model_name: MODEL, id: 'node-int32', parameters: grpcParams(params),
      inputs: [{ name: 'input', datatype: 'INT32', shape: [7], contents: { int_contents: x } }],
    });
    const out = checkGrpcEnvelope(resp, 'node-int32');
    checkTensor(out, 'INT32', [7]);
    const got = out.contents.int_contents;
    assertSameInts(got, documentedReluInt(x, -(2 ** 31), 2 ** 31 - 1, params));
    return `[${x}] -> [${got}]`;
  },

  async grpc_not_found(client) {
    try {
      await unary(client, 'ModelInfer', {
        model_name: 'resnet',
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1], contents: { fp32_contents: [1] } }],
      });
    } catch (err) {
      if (err.code !== grpc.status.NOT_FOUND) throw err;
      if (!String(err.details).includes('resnet')) throw new Error(`details lack "resnet": ${err.details}`);
      return `NOT_FOUND: ${err.details}`;
    }
    throw new Error('the call succeeded, want NOT_FOUND');
  },
};

// ---------------------------------------------------------------- REST

/** Fetches url; returns {status, headers, body: Buffer}. */
async function http(url, init = {}) {
  const resp = await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
  return { status: resp.status, headers: resp.headers, body: Buffer.from(await resp.arrayBuffer()) };
}

/** Returns the JSON body of a 200 response; throws with the body otherwise. */
async function json(url, init) {
  const resp = await http(url, init);
  if (resp.status !== 200) throw new Error(`${url}: HTTP ${resp.status} ${resp.body}`);
  return JSON.parse(resp.body.toString('utf8'));
}

/** POSTs a JSON inference request; returns the parsed response. */
const inferJson = (base, body) => json(`${base}/v2/models/${MODEL}/infer`, {
  method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
});

/** Throws unless resp is model relu's JSON answer to request id with one output. */
function checkRestEnvelope(resp, id) {
  if (resp.model_name !== MODEL) throw new Error(`model_name ${resp.model_name}`);
  if (resp.id !== id) throw new Error(`id ${JSON.stringify(resp.id)}, want ${JSON.stringify(id)}`);
  if (!Array.isArray(resp.outputs) || resp.outputs.length !== 1) {
    throw new Error(`outputs ${JSON.stringify(resp.outputs)}, want one`);
  }
  return resp.outputs[0];
}

const restChecks = {
  async rest_health(base) {
    for (const route of ['/v2/health/live', '/v2/health/ready', `/v2/models/${MODEL}/ready`,
      `/v2/models/${MODEL}/versions/${VERSION}/ready`]) {
      const { status } = await http(`${base}${route}`);
      if (status !== 200) throw new Error(`GET ${route}: HTTP ${status}, want 200`);
    }
    const { status } = await http(`${base}/v2/models/resnet/ready`);
    if (status === 200) throw new Error('GET /v2/models/resnet/ready: 200 for a model not served');
    return `live, ready, model ready (200); resnet: ${status}`;
  },

  async rest_metadata(base) {
    const meta = await json(`${base}/v2/models/${MODEL}`);
    if (meta.name !== MODEL || !(meta.versions || []).includes(VERSION)) {
      throw new Error(`metadata ${JSON.stringify(meta)}`);
    }
    const tensors = [...meta.inputs, ...meta.outputs].map((t) => t.name);
    if (tensors.join() !== 'input,output') throw new Error(`tensors [${tensors}]`);
    const server = await json(`${base}/v2`);
    return `model ${meta.name} versions [${meta.versions}]; server ${server.name} ${server.version}`;
  },

  async rest_fp32_json(base) {
    const x = Array.from(Float32Array.from([-3, -0.5, 0, 0.25, 0.5, 1.5, 6, 7.25]));
    const resp = await inferJson(base, {
      id: 'rest-fp32', parameters: FP32_PARAMS,
      inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: x }],
    });
    const out = checkRestEnvelope(resp, 'rest-fp32');
    checkTensor(out, 'FP32', [2, 4]);
    const got = Float32Array.from(out.data.flat(Infinity));
    assertSameBits(got, documentedReluFp32(x, FP32_PARAMS));
    return `${fmt(x)} -> ${fmt(got)}`;
  },

  async rest_int16_json(base) {
    const x = [-30000, -5, 0, 7, 9, 32767];
    const params = { max_value: 8, negative_slope: 2, threshold: 1 };
    const resp = await inferJson(base, {
      id: 'rest-int16', parameters: params,
      inputs: [{ name: 'input', shape: [6], datatype: 'INT16', data: x }],
    });
    const out = checkRestEnvelope(resp, 'rest-int16');
    checkTensor(out, 'INT16', [6]);
    assertSameInts(out.data, documentedReluInt(x, -32768, 32767, params));
    return `[${x}] -> [${out.data}]`;
  },

  async rest_fp32_binary(base) {
    const x = Array.from({ length: 1000 }, (_, i) => Math.fround(((i * 37) % 200) / 10 - 10));
    const data = toFloat32Le(x);
    const header = Buffer.from(JSON.stringify({
      id: 'rest-binary', parameters: FP32_PARAMS,
      inputs: [{
        name: 'input', shape: [10, 100], datatype: 'FP32',
        parameters: { binary_data_size: data.length },
      }],
      outputs: [{ name: 'output', parameters: { binary_data: true } }],
    }));
    const resp = await http(`${base}/v2/models/${MODEL}/versions/${VERSION}/infer`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/octet-stream',
        'Inference-Header-Content-Length': String(header.length),
      },
      body: Buffer.concat([header, data]),
    });
    if (resp.status !== 200) throw new Error(`HTTP ${resp.status} ${resp.body}`);
    const jsonLength = Number(resp.headers.get('inference-header-content-length'));
    if (!Number.isInteger(jsonLength) || jsonLength <= 0 || jsonLength > resp.body.length) {
      throw new Error(`Inference-Header-Content-Length ${resp.headers.get('inference-header-content-length')}`);
    }
    const answer = JSON.parse(resp.body.subarray(0, jsonLength).toString('utf8'));
    const out = checkRestEnvelope(answer, 'rest-binary');
    checkTensor(out, 'FP32', [10, 100]);
    const size = (out.parameters || {}).binary_data_size;
    if (size !== data.length || resp.body.length !== jsonLength + size) {
      throw new Error(`binary_data_size ${size}, body ${resp.body.length} = ${jsonLength} + ?; want ${data.length} bytes`);
    }
    const got = fromFloat32Le(resp.body.subarray(jsonLength));
    assertSameBits(got, documentedReluFp32(x, FP32_PARAMS));
    return `1000 FP32 (${data.length} bytes) each way, JSON header ${jsonLength} bytes`;
  },

  async rest_error(base) {
    const header = Buffer.from(JSON.stringify({
      inputs: [{ name: 'input', shape: [2, 2], datatype: 'FP32', parameters: { binary_data_size: 12 } }],
    }));
    const resp = await http(`${base}/v2/models/${MODEL}/infer`, {
      method: 'POST',
      headers: { 'Inference-Header-Content-Length': String(header.length) },
      body: Buffer.concat([header, Buffer.alloc(12)]),
    });
    if (resp.status !== 400) throw new Error(`HTTP ${resp.status}, want 400: ${resp.body}`);
    const body = JSON.parse(resp.body.toString('utf8'));
    if (typeof body.error !== 'string' || body.error === '') {
      throw new Error(`body ${resp.body}, want {"error": "..."}`);
    }
    return `400: ${body.error}`;
  },
};

/** Runs each check of checks with arg; returns the number that failed. */
async function run(checks, arg) {
  let failed = 0;
  for (const [name, check] of Object.entries(checks)) {
    try {
      console.log(`PASS ${name}: ${await check(arg)}`);
    } catch (err) {
      failed += 1;
      const why = err.code !== undefined && err.details !== undefined
        ? `${grpc.status[err.code]}: ${err.details}` : err.message;
      console.log(`FAIL ${name}: ${why}`);
    }
  }
  return failed;
}

async function main() {
  const { values: args } = parseArgs({
    options: {
      target: { type: 'string' },
      url: { type: 'string' },
      proto_root: { type: 'string', default: path.join(__dirname, '..', '..', 'proto') },
    },
  });
  if (!args.target) {
    console.error('usage: node oip_client.js --target HOST:PORT [--url http://HOST:PORT] [--proto_root DIR]');
    return 2;
  }
  const definition = protoLoader.loadSync(PROTO_FILE, {
    keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
    includeDirs: [args.proto_root],
  });
  const { GRPCInferenceService } = grpc.loadPackageDefinition(definition).inference;
  const client = new GRPCInferenceService(args.target, grpc.credentials.createInsecure());
  try {
    await new Promise((resolve, reject) =>
      client.waitForReady(deadline(), (err) => (err ? reject(err) : resolve())));
  } catch (err) {
    console.error(`setup: no server at ${args.target}: ${err.message}`);
    client.close();
    return 2;
  }
  let failed = await run(grpcChecks, client);
  client.close();
  let total = Object.keys(grpcChecks).length;
  if (args.url) {
    failed += await run(restChecks, args.url.replace(/\/$/, ''));
    total += Object.keys(restChecks).length;
  }
  console.log(`${total - failed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

main().then((code) => { process.exitCode = code; }, (err) => {
  console.error(`setup: ${err.stack || err}`);
  process.exitCode = 2;
});
