'use strict';
// Validates deploy/kserve's manifests without a cluster:
//   1. each ServingRuntime and InferenceService against kserve.js's JSON
//      Schemas (unknown fields fail, as under KServe's full CRDs), containers
//      also against kubernetes-models' Container;
//   2. the invariants between them and the server: every --flag is one
//      server/main.cc defines; gRPC on 8081 and HTTP on 8080 (KServe's
//      grpc-v2 and v2 ports); probes on /v2/health/live and /v2/health/ready
//      on the HTTP port; the image and hardening of deploy/k8s; each
//      InferenceService names the runtime, a model format and a protocol it
//      supports, and exposes the port its protocol is served on.
// Prints one line per object; exits 1 on any problem.
//
//   node validate_kserve.js [--mutate=NAME] FILE...
//
// --mutate applies a deliberate mistake first (MUTATIONS below), for
// check_kserve.sh's self-tests.

const fs = require('fs');
const path = require('path');
const YAML = require('yaml');
const { checkServingRuntime, checkInferenceService } = require('./kserve');

const ROOT = path.resolve(__dirname, '../../..');
const HTTP_PORT = 8080; // KServe's v2 (REST) port
const GRPC_PORT = 8081; // KServe's grpc-v2 port
const CHECKS = {
  'serving.kserve.io/v1alpha1/ServingRuntime': checkServingRuntime,
  'serving.kserve.io/v1beta1/InferenceService': checkInferenceService,
};

// Deliberate mistakes for the self-tests.
const MUTATIONS = {
  // A misspelled field of the runtime, one of a nested probe, and one of the
  // InferenceService: the schemas see them.
  autoselect: (o) => {
    if (o.kind === 'ServingRuntime') {
      o.spec.supportedModelFormats[0].autoselect = o.spec.supportedModelFormats[0].autoSelect;
      delete o.spec.supportedModelFormats[0].autoSelect;
    }
  },
  'probe-paht': (o) => {
    if (o.kind === 'ServingRuntime') {
      const get = o.spec.containers[0].readinessProbe.httpGet;
      get.paht = get.path;
      delete get.path;
    }
  },
  modelformat: (o) => {
    if (o.kind === 'InferenceService') {
      o.spec.predictor.model.modelformat = o.spec.predictor.model.modelFormat;
      delete o.spec.predictor.model.modelFormat;
    }
  },
  // Valid fields, wrong values: the invariants see them.
  'runtime-name': (o) => {
    if (o.kind === 'InferenceService') o.spec.predictor.model.runtime = 'activation';
  },
  'grpc-port': (o) => {
    if (o.kind === 'ServingRuntime') {
      const args = o.spec.containers[0].args;
      args[args.findIndex((a) => a.startsWith('--address='))] = '--address=0.0.0.0:50051';
    }
  },
};

// Returns the flag names server/main.cc defines with ABSL_FLAG.
function serverFlags() {
  const source = fs.readFileSync(path.join(ROOT, 'server/main.cc'), 'utf8');
  return new Set([...source.matchAll(/ABSL_FLAG\(\s*[^,]+,\s*(\w+)\s*,/g)].map((m) => m[1]));
}

// Returns the image repository deploy/k8s's Deployment runs.
function k8sImage() {
  const d = YAML.parse(fs.readFileSync(path.join(ROOT, 'deploy/k8s/base/deployment.yaml'), 'utf8'));
  return d.spec.template.spec.containers[0].image.replace(/[:@].*$/, '');
}

const portOf = (address) => Number(String(address).split(':').pop());
const cpuCores = (q) => {
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(String(q));
  return m ? Number(m[1]) / (m[2] ? 1000 : 1) : NaN;
};

// Checks the runtime against the server; returns {problems, grpcPort, httpPort}.
function checkRuntime(sr) {
  const problems = [];
  const expect = (ok, message) => { if (!ok) problems.push(`${sr.metadata.name}: ${message}`); };
  const c = sr.spec.containers.find((x) => x.name === 'kserve-container');
  if (!c) return { problems: [`${sr.metadata.name}: no container named kserve-container`] };
  const flags = serverFlags();
  const args = {};
  for (const arg of c.args || []) {
    const m = /^--([a-z_]+)=(.*)$/.exec(arg);
    expect(m, `argument "${arg}" is not --flag=value`);
    if (!m) continue;
    expect(flags.has(m[1]), `--${m[1]} is not a flag of server/main.cc`);
    args[m[1]] = m[2];
  }
  const grpcPort = portOf(args.address);
  const httpPort = portOf(args.http_address);
  expect(grpcPort === GRPC_PORT, `--address=${args.address}: gRPC must be on ${GRPC_PORT} (KServe's grpc-v2 port)`);
  expect(httpPort === HTTP_PORT, `--http_address=${args.http_address}: HTTP must be on ${HTTP_PORT} (KServe's v2 port)`);
  const protocols = sr.spec.protocolVersions || [];
  for (const p of ['v2', 'grpc-v2']) expect(protocols.includes(p), `protocolVersions lacks ${p}`);
  expect(!protocols.some((p) => p.endsWith('v1')), 'protocolVersions: the server speaks no v1 protocol');
  expect((sr.spec.supportedModelFormats || []).some((f) => f.name === 'relu' && f.version === '1'),
      'supportedModelFormats lacks relu version "1" (the model the server serves)');
  for (const [probe, route] of [['livenessProbe', '/v2/health/live'], ['readinessProbe', '/v2/health/ready']]) {
    const get = (c[probe] || {}).httpGet || {};
    expect(get.path === route && get.port === httpPort, `${probe} must GET ${route} on port ${httpPort}`);
  }
  expect(c.image && c.image.replace(/[:@].*$/, '') === k8sImage() && /[:@]/.test(c.image),
      `image "${c.image}" must be deploy/k8s's ${k8sImage()} with a tag or digest`);
  const sc = c.securityContext || {};
  expect(sc.runAsNonRoot === true && sc.runAsUser === 10001, 'runAsNonRoot and runAsUser 10001 (the image\'s user)');
  expect(sc.readOnlyRootFilesystem === true, 'readOnlyRootFilesystem must be true');
  expect(sc.allowPrivilegeEscalation === false, 'allowPrivilegeEscalation must be false');
  expect(((sc.capabilities || {}).drop || []).includes('ALL'), 'capabilities.drop must include ALL');
  expect((sc.seccompProfile || {}).type === 'RuntimeDefault', 'seccompProfile must be RuntimeDefault');
  const { requests = {}, limits = {} } = c.resources || {};
  expect(requests.cpu && limits.cpu && requests.memory && limits.memory, 'resources need cpu and memory requests and limits');
  if (args.threads !== undefined) {
    expect(Number(args.threads) >= 1 && Number(args.threads) <= cpuCores(limits.cpu),
        `--threads=${args.threads} must be between 1 and the cpu limit (${limits.cpu})`);
  }
  return { problems, grpcPort, httpPort };
}

// Checks an InferenceService against the runtimes; returns problems.
function checkService(isvc, runtimes, ports) {
  const problems = [];
  const expect = (ok, message) => { if (!ok) problems.push(`${isvc.metadata.name}: ${message}`); };
  const model = isvc.spec.predictor.model;
  const format = model.modelFormat;
  const supports = (sr) => (sr.spec.supportedModelFormats || []).some((f) =>
    f.name === format.name && (format.version === undefined || f.version === format.version) &&
    (model.runtime !== undefined || f.autoSelect === true));
  const sr = model.runtime === undefined
    ? runtimes.find(supports) : runtimes.find((r) => r.metadata.name === model.runtime);
  if (!sr) return [`${isvc.metadata.name}: runtime ${model.runtime || '(auto-selected)'} is no ServingRuntime of deploy/kserve`];
  expect(supports(sr), `${sr.metadata.name} does not support modelFormat ${format.name} ${format.version || ''}`);
  const protocol = model.protocolVersion || 'v1';
  expect((sr.spec.protocolVersions || []).includes(protocol),
      `protocolVersion ${protocol} is not one of ${sr.metadata.name}'s (${sr.spec.protocolVersions})`);
  expect(model.storageUri === undefined, 'storageUri: the model is built into the server; KServe would start a storage initializer for nothing');
  const declared = (model.ports || []).map((p) => p.containerPort);
  const raw = ((isvc.metadata.annotations || {})['serving.kserve.io/deploymentMode']) === 'RawDeployment';
  if (protocol === 'grpc-v2') {
    const p = (model.ports || [])[0] || {};
    expect(declared.length === 1 && p.containerPort === ports.grpcPort,
        `grpc-v2 must expose exactly the gRPC port ${ports.grpcPort} (KServe serves one port)`);
    const want = raw ? /^grpc(-.*)?$/ : /^h2c$/;
    expect(want.test(p.name || ''), `the gRPC port must be named ${raw ? 'grpc[-suffix] (RawDeployment)' : 'h2c (Knative)'}`);
    expect(raw, 'gRPC under Knative: the runtime\'s HTTP probes on 8080 are not the served port; use RawDeployment');
  } else {
    expect(declared.length === 0 || (declared.length === 1 && declared[0] === ports.httpPort),
        `v2 is served on ${ports.httpPort}; declare no other port`);
  }
  return problems;
}

function main() {
  const argv = process.argv.slice(2);
  const mutation = (argv.find((a) => a.startsWith('--mutate=')) || '').slice('--mutate='.length);
  if (mutation && !MUTATIONS[mutation]) throw new Error(`unknown mutation "${mutation}"`);
  const objects = [];
  for (const file of argv.filter((a) => !a.startsWith('--'))) {
    for (const doc of YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'))) {
      if (doc.errors.length) throw new Error(`${file}: YAML: ${doc.errors[0].message}`);
      const obj = doc.toJS();
      if (obj === null) continue;
      if (mutation) MUTATIONS[mutation](obj);
      objects.push({ file: path.basename(file), obj });
    }
  }
  let failed = 0;
  const report = (label, problems) => {
    if (problems.length === 0) return console.log(`ok   ${label}`);
    failed++;
    for (const p of problems) console.log(`FAIL ${label}: ${p}`);
  };
  for (const { file, obj } of objects) {
    const key = `${obj.apiVersion}/${obj.kind}`;
    const check = CHECKS[key];
    report(`${file}: ${obj.kind}/${(obj.metadata || {}).name} (${obj.apiVersion}, kserve.js)`,
        check ? check(obj) : [`${key} is not a kind validate_kserve.js knows`]);
  }
  if (failed === 0) {
    const runtimes = objects.map((o) => o.obj).filter((o) => o.kind === 'ServingRuntime');
    const services = objects.map((o) => o.obj).filter((o) => o.kind === 'InferenceService');
    const problems = runtimes.length === 1 ? [] : [`want 1 ServingRuntime, got ${runtimes.length}`];
    let ports = {};
    for (const sr of runtimes) {
      const result = checkRuntime(sr);
      problems.push(...result.problems);
      ports = result;
    }
    if (services.length === 0) problems.push('no InferenceService');
    for (const isvc of services) problems.push(...checkService(isvc, runtimes, ports));
    report('invariants (flags, ports, probes, image, hardening, runtime selection)', problems);
  }
  console.log(`validate_kserve: ${objects.length} objects, ${failed ? 'problems found' : 'all valid'}`);
  process.exit(failed ? 1 : 0);
}

main();
