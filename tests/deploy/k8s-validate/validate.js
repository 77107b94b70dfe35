'use strict';
// Validates rendered deploy/k8s manifests (kubectl kustomize output):
//   1. every object against its kubernetes-models schema (ServiceMonitor and
//      PrometheusRule against servicemonitor.js and prometheusrule.js); a
//      kind not in kinds.js fails;
//   2. the service's own invariants across objects: selectors select the
//      pods, ports and probes agree, every --flag is one server/main.cc
//      defines and every $(VAR) in the arguments comes from the ConfigMap,
//      terminationGracePeriodSeconds outlasts the drain, the hardening the
//      image needs is there, the HPA/PDB/NetworkPolicy/ServiceMonitor point
//      at what exists, and a ServiceMonitor comes with its PrometheusRule.
// Prints one line per object and per render; exits 1 on any problem.
//
//   node validate.js [--mutate=NAME] [--schema-only] LABEL=FILE...
//
// --mutate applies a deliberate mistake first (kinds.js MUTATIONS), for
// check_k8s.sh's self-tests; --schema-only skips the invariants (for files
// that are not a whole render, such as overlays/tls/secrets.example.yaml).

const fs = require('fs');
const path = require('path');
const { KINDS, kindKey, describe, readRenders, mutate } = require('./kinds');

const ROOT = path.resolve(__dirname, '../../..');
const SERVICE_NAME = 'activation.v1.ActivationService';
const APP_LABEL = 'app.kubernetes.io/name';
const APP = 'activation-service';

// Returns the flag names server/main.cc defines with ABSL_FLAG.
function serverFlags() {
  const source = fs.readFileSync(path.join(ROOT, 'server/main.cc'), 'utf8');
  const names = new Set();
  for (const m of source.matchAll(/ABSL_FLAG\(\s*[^,]+,\s*(\w+)\s*,/g)) names.add(m[1]);
  if (names.size === 0) throw new Error('no ABSL_FLAG found in server/main.cc');
  return names;
}

// Returns the seconds of an absl::Duration flag value ("20s", "1m30s",
// "inf"), or NaN.
function abslDurationSeconds(text) {
  if (text === 'inf') return Infinity;
  if (text === '0') return 0;
  const unit = { ns: 1e-9, us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  const re = /(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)/gy;
  let total = 0;
  let end = 0;
  for (let m; (m = re.exec(text)) !== null; end = re.lastIndex) {
    total += Number(m[1]) * unit[m[2]];
  }
  return end === text.length && end > 0 ? total : NaN;
}

// Returns a CPU quantity in cores ("500m" -> 0.5, "2" -> 2), or NaN.
function cpuCores(q) {
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(String(q));
  return m ? Number(m[1]) / (m[2] ? 1000 : 1) : NaN;
}

// Returns a memory quantity in bytes ("256Mi", "1Gi", "1G"), or NaN.
function memoryBytes(q) {
  const m = /^(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(q));
  const scale = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  return m ? Number(m[1]) * (m[2] ? scale[m[2]] : 1) : NaN;
}

// Returns true if the LabelSelector selects an object with these labels.
function selects(selector, labels) {
  if (!selector) return false;
  labels = labels || {};
  const byLabel = Object.entries(selector.matchLabels || {});
  const byExpression = selector.matchExpressions || [];
  if (byLabel.length === 0 && byExpression.length === 0) return true;
  return byLabel.every(([k, v]) => labels[k] === v) &&
      byExpression.every((e) => {
        const has = Object.prototype.hasOwnProperty.call(labels, e.key);
        switch (e.operator) {
          case 'In': return has && e.values.includes(labels[e.key]);
          case 'NotIn': return !has || !e.values.includes(labels[e.key]);
          case 'Exists': return has;
          case 'DoesNotExist': return !has;
          default: return false;
        }
      });
}

// Validates obj against its schema; returns a list of problems.
function checkSchema(obj) {
  const kind = KINDS[kindKey(obj)];
  if (!kind) {
    return [`${kindKey(obj)} is not a kind kinds.js knows (${Object.keys(KINDS).join(', ')})`];
  }
  if (kind.check) {
    const [module, name] = kind.check;
    return require(module)[name](obj);
  }
  const [module, name] = kind.model;
  const Model = require(module)[name];
  try {
    new Model(obj).validate();
    return [];
  } catch (e) {
    return String(e.message).split('\n').filter(Boolean);
  }
}

// Checks the invariants of one render; returns a list of problems.
function checkRender(objects, flags) {
  const errors = [];
  const expect = (ok, message) => { if (!ok) errors.push(message); return ok; };
  const ofKind = (kind) => objects.filter((o) => o.kind === kind);

  for (const obj of objects) {
    expect((obj.metadata.labels || {})[APP_LABEL] === APP,
        `${describe(obj)}: label ${APP_LABEL} must be ${APP}`);
  }
  const deployments = ofKind('Deployment');
  if (!expect(deployments.length === 1, `want 1 Deployment, got ${deployments.length}`)) {
    return errors;
  }
  const d = deployments[0];
  const pod = d.spec.template;
  const podLabels = pod.metadata.labels;
  const podSpec = pod.spec;
  expect(selects(d.spec.selector, podLabels), 'Deployment: spec.selector does not select its own pod template');
  const containers = podSpec.containers;
  if (!expect(containers.length === 1, `Deployment: want 1 container, got ${containers.length}`)) {
    return errors;
  }
  const c = containers[0];
  expect(/[:@]/.test(c.image), `Deployment: image "${c.image}" has no tag or digest`);
  const ports = Object.fromEntries((c.ports || []).map((p) => [p.name, p.containerPort]));
  expect(ports.grpc === 50051, 'Deployment: container port "grpc" must be 50051');
  expect(ports.metrics === 9464, 'Deployment: container port "metrics" must be 9464');
  expect(ports.http === 8080, 'Deployment: container port "http" must be 8080');

  // Arguments: known flags, $(VAR)s from the ConfigMap, values that parse.
  const env = {};
  for (const from of c.envFrom || []) {
    if (!from.configMapRef) continue;
    const cm = ofKind('ConfigMap').find((m) => m.metadata.name === from.configMapRef.name);
    if (expect(cm, `Deployment: envFrom ConfigMap ${from.configMapRef.name} is not in the render`)) {
      Object.assign(env, cm.data);
    }
  }
  for (const e of c.env || []) if (typeof e.value === 'string') env[e.name] = e.value;
  const args = {};
  for (const arg of c.args || []) {
    const m = /^--([a-z_]+)=(.*)$/.exec(arg);
    if (!expect(m, `Deployment: argument "${arg}" is not --flag=value`)) continue;
    expect(flags.has(m[1]), `Deployment: --${m[1]} is not a flag of server/main.cc`);
    args[m[1]] = m[2].replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name) => {
      expect(name in env, `Deployment: ${arg} uses $(${name}), which no ConfigMap or env entry defines`);
      return name in env ? env[name] : whole;
    });
  }
  const portOf = (address) => Number(String(address).split(':').pop());
  expect(portOf(args.address) === ports.grpc, `Deployment: --address=${args.address} is not the grpc port`);
  expect(portOf(args.metrics_address) === ports.metrics,
      `Deployment: --metrics_address=${args.metrics_address} is not the metrics port`);
  // HTTP/REST on the http port (HTTPS with --tls_cert), or off (--http_address=).
  expect(args.http_address === '' || portOf(args.http_address) === ports.http,
      `Deployment: --http_address=${args.http_address} is not the http port`);
  const grace = abslDurationSeconds(args.shutdown_grace || '20s');
  expect(Number.isFinite(grace), `Deployment: --shutdown_grace=${args.shutdown_grace} is not a finite duration`);
  if (args.max_connection_age !== undefined) {
    expect(!Number.isNaN(abslDurationSeconds(args.max_connection_age)),
        `Deployment: --max_connection_age=${args.max_connection_age} is not a duration`);
  }
  for (const name of ['max_inflight', 'max_message_bytes', 'max_elements']) {
    if (args[name] !== undefined) {
      expect(/^[1-9][0-9]*$/.test(args[name]), `Deployment: --${name}=${args[name]} is not a positive integer`);
    }
  }
  const limits = (c.resources || {}).limits || {};
  const requests = (c.resources || {}).requests || {};
  for (const r of ['cpu', 'memory']) {
    expect(requests[r] !== undefined && limits[r] !== undefined, `Deployment: resources.requests and .limits need ${r}`);
  }
  expect(cpuCores(requests.cpu) <= cpuCores(limits.cpu), 'Deployment: cpu request exceeds its limit');
  expect(memoryBytes(requests.memory) <= memoryBytes(limits.memory), 'Deployment: memory request exceeds its limit');
  if (args.threads !== undefined) {
    const threads = Number(args.threads);
    expect(Number.isInteger(threads) && threads >= 1 && threads <= cpuCores(limits.cpu),
        `Deployment: --threads=${args.threads} must be between 1 and the cpu limit (${limits.cpu})`);
  }

  // Drain: preStop sleep, then SIGTERM and --shutdown_grace, within the
  // termination grace period.
  const preStop = (((c.lifecycle || {}).preStop || {}).exec || {}).command || [];
  const sleep = /(^|\/)sleep$/.test(preStop[0] || '') ? Number(preStop[1]) : NaN;
  expect(sleep > 0, 'Deployment: preStop must be exec ["/bin/sleep", N]');
  const period = podSpec.terminationGracePeriodSeconds;
  expect(period > grace + sleep,
      `Deployment: terminationGracePeriodSeconds ${period} must exceed --shutdown_grace (${grace}s) + preStop sleep (${sleep}s)`);

  // Volumes: every mount names a volume; every file a flag names is mounted.
  const volumes = new Set((podSpec.volumes || []).map((v) => v.name));
  const mounts = c.volumeMounts || [];
  for (const m of mounts) {
    expect(volumes.has(m.name), `Deployment: volumeMount ${m.mountPath} names no volume "${m.name}"`);
  }
  const mounted = (file) => mounts.some((m) => file.startsWith(`${m.mountPath.replace(/\/$/, '')}/`));
  for (const name of ['tls_cert', 'tls_key', 'tls_client_ca', 'auth_token_file']) {
    if (args[name]) expect(mounted(args[name]), `Deployment: --${name}=${args[name]} is on no volumeMount`);
  }
  const tls = Boolean(args.tls_cert || args.tls_key);
  if (tls) expect(args.tls_cert && args.tls_key, 'Deployment: --tls_cert and --tls_key go together');

  // Probes: native gRPC on the grpc port (plaintext only), or, with TLS,
  // exec probes that run `activation_client ... health` against it.
  for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
    const p = c[probe];
    if (!expect(p && (p.grpc || p.exec), `Deployment: ${probe} must be a grpc or exec probe`)) continue;
    const wantService = probe === 'readinessProbe' ? SERVICE_NAME : undefined;
    if (p.grpc) {
      expect(!tls, `Deployment: ${probe} is a native gRPC probe, which cannot speak TLS (--tls_cert is set)`);
      expect(p.grpc.port === ports.grpc, `Deployment: ${probe}.grpc.port must be the grpc port`);
      expect((p.grpc.service || undefined) === wantService,
          `Deployment: ${probe}.grpc.service must be ${wantService || 'unset (the whole server)'}`);
      continue;
    }
    const cmd = p.exec.command || [];
    const flag = (name) => (cmd.find((a) => a.startsWith(`--${name}=`)) || '').slice(name.length + 3);
    expect(/(^|\/)activation_client$/.test(cmd[0] || '') && cmd.includes('health'),
        `Deployment: ${probe}.exec must run "activation_client ... health"`);
    expect(new RegExp(`^(127\\.0\\.0\\.1|localhost):${ports.grpc}$`).test(flag('target')),
        `Deployment: ${probe} must check --target=127.0.0.1:${ports.grpc}`);
    expect((flag('service') || undefined) === wantService,
        `Deployment: ${probe} --service must be ${wantService || 'unset (the whole server)'}`);
    expect(cmd.includes('--tls') === tls, `Deployment: ${probe} must use --tls exactly when the server does`);
    if (args.tls_client_ca) {
      expect(flag('tls_cert') && flag('tls_key'), `Deployment: ${probe} needs a client certificate (--tls_client_ca is set)`);
    }
    for (const name of ['tls_ca', 'tls_cert', 'tls_key', 'token_file']) {
      if (flag(name)) expect(mounted(flag(name)), `Deployment: ${probe} --${name}=${flag(name)} is on no volumeMount`);
    }
  }

  // Hardening (container settings, or the pod's where the field exists).
  const sc = c.securityContext || {};
  const psc = podSpec.securityContext || {};
  const either = (field) => (sc[field] !== undefined ? sc[field] : psc[field]);
  expect(either('runAsNonRoot') === true, 'Deployment: runAsNonRoot must be true');
  expect(either('runAsUser') === 10001, 'Deployment: runAsUser must be 10001 (the image\'s user)');
  expect(sc.readOnlyRootFilesystem === true, 'Deployment: readOnlyRootFilesystem must be true');
  expect(sc.allowPrivilegeEscalation === false, 'Deployment: allowPrivilegeEscalation must be false');
  expect(((sc.capabilities || {}).drop || []).includes('ALL'), 'Deployment: capabilities.drop must include ALL');
  expect((either('seccompProfile') || {}).type === 'RuntimeDefault', 'Deployment: seccompProfile must be RuntimeDefault');

  const spread = podSpec.topologySpreadConstraints || [];
  expect(spread.length > 0, 'Deployment: topologySpreadConstraints missing');
  spread.forEach((t, i) => expect(selects(t.labelSelector, podLabels),
      `Deployment: topologySpreadConstraints[${i}].labelSelector does not select the pods`));

  // Prometheus annotations point at the metrics port.
  const annotations = pod.metadata.annotations || {};
  const serviceMonitors = ofKind('ServiceMonitor');
  if (annotations['prometheus.io/scrape'] === 'true') {
    expect(Number(annotations['prometheus.io/port']) === ports.metrics,
        'Deployment: prometheus.io/port must be the metrics port');
    expect(annotations['prometheus.io/path'] === '/metrics', 'Deployment: prometheus.io/path must be /metrics');
    expect(serviceMonitors.length === 0, 'Deployment: scraped by annotation and by a ServiceMonitor: twice');
  } else {
    expect(serviceMonitors.length > 0, 'Deployment: neither prometheus.io/scrape "true" nor a ServiceMonitor');
  }
  // Scraped by the operator, alerted on by it too: the dashboard reads the
  // recording rules.
  if (serviceMonitors.length > 0) {
    expect(ofKind('PrometheusRule').length === 1,
        'a ServiceMonitor without its PrometheusRule: no alerts or recording rules');
  }

  // Services select the pods and target container ports.
  const services = ofKind('Service');
  const headless = services.filter((s) => s.spec.clusterIP === 'None');
  expect(headless.length === 1, `want 1 headless Service (clusterIP: None), got ${headless.length}`);
  expect(services.length - headless.length >= 1, 'want a ClusterIP Service besides the headless one');
  for (const s of services) {
    expect(selects({ matchLabels: s.spec.selector }, podLabels) && s.spec.selector,
        `${describe(s)}: selector does not select the pods`);
    for (const p of s.spec.ports) {
      const target = p.targetPort === undefined ? p.port : p.targetPort;
      expect(typeof target === 'string' ? target in ports : Object.values(ports).includes(target),
          `${describe(s)}: port ${p.name} targets ${target}, not a container port`);
      if (p.name === 'grpc') expect(p.appProtocol === 'grpc', `${describe(s)}: port grpc needs appProtocol: grpc`);
      // REST is HTTPS with --tls_cert: a mesh must not treat it as plaintext.
      const rest = 'tls_cert' in args ? 'https' : 'http';
      if (p.name === 'http') expect(p.appProtocol === rest, `${describe(s)}: port http needs appProtocol: ${rest}`);
    }
    expect(s.spec.ports.some((p) => p.name === 'grpc'), `${describe(s)}: no port named grpc`);
  }

  // The HPA scales this Deployment on CPU, which the pods request.
  const hpas = ofKind('HorizontalPodAutoscaler');
  expect(hpas.length === 1, `want 1 HorizontalPodAutoscaler, got ${hpas.length}`);
  for (const h of hpas) {
    const ref = h.spec.scaleTargetRef;
    expect(ref.apiVersion === 'apps/v1' && ref.kind === 'Deployment' && ref.name === d.metadata.name,
        `${describe(h)}: scaleTargetRef is not Deployment/${d.metadata.name}`);
    expect((h.spec.metrics || []).some((m) => m.type === 'Resource' && m.resource.name === 'cpu'),
        `${describe(h)}: no cpu Resource metric`);
    expect(h.spec.minReplicas <= d.spec.replicas && d.spec.replicas <= h.spec.maxReplicas,
        `${describe(h)}: Deployment replicas ${d.spec.replicas} outside ${h.spec.minReplicas}..${h.spec.maxReplicas}`);
  }

  const pdbs = ofKind('PodDisruptionBudget');
  expect(pdbs.length === 1, `want 1 PodDisruptionBudget, got ${pdbs.length}`);
  for (const p of pdbs) {
    expect(selects(p.spec.selector, podLabels), `${describe(p)}: selector does not select the pods`);
    expect(p.spec.maxUnavailable !== undefined || p.spec.minAvailable !== undefined,
        `${describe(p)}: needs maxUnavailable or minAvailable`);
  }

  const policies = ofKind('NetworkPolicy');
  expect(policies.length === 1, `want 1 NetworkPolicy, got ${policies.length}`);
  for (const n of policies) {
    expect(selects(n.spec.podSelector, podLabels), `${describe(n)}: podSelector does not select the pods`);
    const allowed = new Set((n.spec.ingress || []).flatMap((r) => (r.ports || []).map((p) => p.port)));
    for (const [name, port] of Object.entries(ports)) {
      expect(allowed.has(port) || allowed.has(name), `${describe(n)}: no ingress rule for ${name} (${port})`);
    }
  }

  for (const m of serviceMonitors) {
    const selected = services.filter((s) => selects(m.spec.selector, s.metadata.labels));
    expect(selected.length > 0, `${describe(m)}: selects no Service of the render`);
    for (const s of selected) {
      for (const ep of m.spec.endpoints || []) {
        expect(s.spec.ports.some((p) => p.name === ep.port),
            `${describe(m)}: selects ${describe(s)}, which has no port "${ep.port}"`);
      }
    }
  }
  return errors;
}

function main() {
  const argv = process.argv.slice(2);
  const mutation = (argv.find((a) => a.startsWith('--mutate=')) || '').slice('--mutate='.length);
  const schemaOnly = argv.includes('--schema-only');
  const renders = readRenders(argv.filter((a) => !a.startsWith('--')));
  mutate(renders, mutation);
  const flags = serverFlags();
  let failed = 0;
  let count = 0;
  for (const { label, objects } of renders) {
    for (const obj of objects) {
      count++;
      const problems = checkSchema(obj);
      const kind = KINDS[kindKey(obj)];
      const via = kind && kind.check ? `${kind.check[0].slice(2)}.js` : 'kubernetes-models';
      if (problems.length === 0) {
        console.log(`ok   ${label}: ${describe(obj)} (${obj.apiVersion}, ${via})`);
      } else {
        failed++;
        for (const p of problems) console.log(`FAIL ${label}: ${describe(obj)}: ${p}`);
      }
    }
    if (schemaOnly) continue;
    const problems = checkRender(objects, flags);
    if (problems.length === 0) {
      console.log(`ok   ${label}: invariants (selectors, ports, probes, flags, drain, hardening)`);
    } else {
      failed++;
      for (const p of problems) console.log(`FAIL ${label}: ${p}`);
    }
  }
  console.log(`validate: ${count} objects in ${renders.length} renders, ${failed ? `${failed} with problems` : 'all valid'}`);
  process.exit(failed ? 1 : 0);
}

main();
