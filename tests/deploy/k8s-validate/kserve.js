'use strict';
// JSON Schemas of KServe's serving.kserve.io/v1alpha1 ServingRuntime and
// serving.kserve.io/v1beta1 InferenceService: the fields deploy/kserve uses or
// may reasonably use, with their types, and no others.
//
// Based on KServe's API types and CRDs (github.com/kserve/kserve):
//   pkg/apis/serving/v1alpha1/servingruntime_types.go  ServingRuntimeSpec,
//     SupportedModelFormat (name, version, autoSelect, priority >= 1),
//     ServingRuntimePodSpec (containers, volumes, nodeSelector, affinity,
//     tolerations, labels, annotations, imagePullSecrets, hostIPC);
//   pkg/apis/serving/v1beta1/predictor.go, predictor_model.go, component.go
//     PredictorSpec (model, minReplicas, maxReplicas, scaleTarget,
//     scaleMetric, containerConcurrency, timeout, ...), ModelSpec
//     (modelFormat {name, version}, runtime) + PredictorExtensionSpec
//     (storageUri optional, protocolVersion, an inline corev1.Container);
//   config/crd/full/serving.kserve.io_servingruntimes.yaml and
//     serving.kserve.io_inferenceservices.yaml: structural schemas, so the
//     API server drops unknown fields and kubectl's default
//     --validate=strict rejects them. (config/crd/minimal installs `spec:
//     x-kubernetes-preserve-unknown-fields`, which rejects nothing: this
//     check is then the only one.)
// protocolVersion values: constants.InferenceServiceProtocol ("v1", "v2",
// "grpc-v1", "grpc-v2"). Containers additionally pass kubernetes-models'
// io.k8s.api.core.v1.Container schema (types, formats).
//
// Extend a schema when a manifest needs another real field; a misspelled one
// must keep failing (check_kserve.sh's self-tests).

const { isObject, checkEnvelope, checkJsonSchema } = require('./crd');

const PROTOCOLS = ['v1', 'v2', 'grpc-v1', 'grpc-v2'];
const stringMap = { type: 'object', additionalProperties: { type: 'string' } };
const strings = { type: 'array', items: { type: 'string' } };
const quantity = { type: 'string', pattern: '^[0-9]+(\\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$' };
const port = { type: 'integer', minimum: 1, maximum: 65535 };

// The corev1 objects the manifests use, as strict as the full CRDs are.
const $defs = {
  ObjectMeta: {
    type: 'object',
    required: ['name'],
    additionalProperties: false,
    properties: {
      name: { type: 'string' },
      namespace: { type: 'string' },
      labels: stringMap,
      annotations: stringMap,
    },
  },
  Container: {
    type: 'object',
    required: ['name'],
    additionalProperties: false,
    properties: {
      name: { type: 'string' },
      image: { type: 'string' },
      imagePullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] },
      command: strings,
      args: strings,
      env: {
        type: 'array',
        items: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: { name: { type: 'string' }, value: { type: 'string' } },
        },
      },
      ports: { type: 'array', items: { $ref: '#/$defs/ContainerPort' } },
      resources: {
        type: 'object',
        additionalProperties: false,
        properties: {
          requests: { type: 'object', additionalProperties: quantity },
          limits: { type: 'object', additionalProperties: quantity },
        },
      },
      livenessProbe: { $ref: '#/$defs/Probe' },
      readinessProbe: { $ref: '#/$defs/Probe' },
      startupProbe: { $ref: '#/$defs/Probe' },
      securityContext: { $ref: '#/$defs/SecurityContext' },
      volumeMounts: {
        type: 'array',
        items: {
          type: 'object',
          required: ['name', 'mountPath'],
          additionalProperties: false,
          properties: {
            name: { type: 'string' },
            mountPath: { type: 'string' },
            readOnly: { type: 'boolean' },
            subPath: { type: 'string' },
          },
        },
      },
    },
  },
  ContainerPort: {
    type: 'object',
    required: ['containerPort'],
    additionalProperties: false,
    properties: {
      name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
      containerPort: port,
      protocol: { enum: ['TCP', 'UDP', 'SCTP'] },
    },
  },
  Probe: {
    type: 'object',
    additionalProperties: false,
    properties: {
      httpGet: {
        type: 'object',
        required: ['port'],
        additionalProperties: false,
        properties: {
          path: { type: 'string', pattern: '^/' },
          port,
          scheme: { enum: ['HTTP', 'HTTPS'] },
        },
      },
      grpc: {
        type: 'object',
        required: ['port'],
        additionalProperties: false,
        properties: { port, service: { type: 'string' } },
      },
      initialDelaySeconds: { type: 'integer', minimum: 0 },
      periodSeconds: { type: 'integer', minimum: 1 },
      timeoutSeconds: { type: 'integer', minimum: 1 },
      failureThreshold: { type: 'integer', minimum: 1 },
      successThreshold: { type: 'integer', minimum: 1 },
    },
  },
  SecurityContext: {
    type: 'object',
    additionalProperties: false,
    properties: {
      runAsNonRoot: { type: 'boolean' },
      runAsUser: { type: 'integer' },
      runAsGroup: { type: 'integer' },
      readOnlyRootFilesystem: { type: 'boolean' },
      allowPrivilegeEscalation: { type: 'boolean' },
      privileged: { type: 'boolean' },
      capabilities: {
        type: 'object',
        additionalProperties: false,
        properties: { add: strings, drop: strings },
      },
      seccompProfile: {
        type: 'object',
        required: ['type'],
        additionalProperties: false,
        properties: {
          type: { enum: ['RuntimeDefault', 'Localhost', 'Unconfined'] },
          localhostProfile: { type: 'string' },
        },
      },
    },
  },
};

// serving.kserve.io/v1alpha1 ServingRuntime (servingruntime_types.go).
const SERVING_RUNTIME = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  additionalProperties: false,
  properties: {
    apiVersion: { const: 'serving.kserve.io/v1alpha1' },
    kind: { const: 'ServingRuntime' },
    metadata: { $ref: '#/$defs/ObjectMeta' },
    spec: {
      type: 'object',
      required: ['containers'],
      additionalProperties: false,
      properties: {
        supportedModelFormats: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            required: ['name'],
            additionalProperties: false,
            properties: {
              name: { type: 'string' },
              version: { type: 'string' },
              autoSelect: { type: 'boolean' },
              priority: { type: 'integer', minimum: 1 },
            },
          },
        },
        protocolVersions: { type: 'array', items: { enum: PROTOCOLS } },
        multiModel: { type: 'boolean' },
        disabled: { type: 'boolean' },
        containers: { type: 'array', minItems: 1, items: { $ref: '#/$defs/Container' } },
        nodeSelector: stringMap,
        labels: stringMap,
        annotations: stringMap,
        imagePullSecrets: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            properties: { name: { type: 'string' } },
          },
        },
      },
    },
  },
};

// serving.kserve.io/v1beta1 InferenceService with a predictor.model
// (predictor.go, predictor_model.go, component.go).
const INFERENCE_SERVICE = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  additionalProperties: false,
  properties: {
    apiVersion: { const: 'serving.kserve.io/v1beta1' },
    kind: { const: 'InferenceService' },
    metadata: { $ref: '#/$defs/ObjectMeta' },
    spec: {
      type: 'object',
      required: ['predictor'],
      additionalProperties: false,
      properties: {
        predictor: {
          type: 'object',
          required: ['model'],
          additionalProperties: false,
          properties: {
            model: {
              type: 'object',
              required: ['modelFormat'],
              additionalProperties: false,
              properties: {
                modelFormat: {
                  type: 'object',
                  required: ['name'],
                  additionalProperties: false,
                  properties: { name: { type: 'string' }, version: { type: 'string' } },
                },
                runtime: { type: 'string' },
                protocolVersion: { enum: PROTOCOLS },
                storageUri: { type: 'string' },
                runtimeVersion: { type: 'string' },
                // The inline corev1.Container fields an InferenceService
                // overrides most.
                args: strings,
                env: $defs.Container.properties.env,
                ports: $defs.Container.properties.ports,
                resources: $defs.Container.properties.resources,
              },
            },
            minReplicas: { type: 'integer', minimum: 0 },
            maxReplicas: { type: 'integer', minimum: 0 },
            scaleTarget: { type: 'integer', minimum: 1 },
            scaleMetric: { enum: ['cpu', 'memory', 'concurrency', 'rps'] },
            containerConcurrency: { type: 'integer', minimum: 0 },
            timeout: { type: 'integer', minimum: 1 },
            labels: stringMap,
            annotations: stringMap,
          },
        },
      },
    },
  },
};

// Returns the problems kubernetes-models' Container schema finds in c.
function checkContainerModel(c, where) {
  const { Container } = require('kubernetes-models/v1/Container');
  try {
    new Container(c).validate();
    return [];
  } catch (e) {
    return String(e.message).split('\n').filter(Boolean).map((line) => `${where}: ${line}`);
  }
}

// Returns a list of problems with obj as a ServingRuntime; empty when valid.
function checkServingRuntime(obj) {
  const errors = [];
  checkEnvelope(obj, errors);
  checkJsonSchema(SERVING_RUNTIME, obj, '', errors, $defs);
  const containers = isObject(obj.spec) && Array.isArray(obj.spec.containers) ? obj.spec.containers : [];
  containers.forEach((c, i) => errors.push(...checkContainerModel(c, `.spec.containers[${i}]`)));
  return errors.map((e) => e.replace(/^\./, ''));
}

// Returns a list of problems with obj as an InferenceService; empty when valid.
function checkInferenceService(obj) {
  const errors = [];
  checkEnvelope(obj, errors);
  checkJsonSchema(INFERENCE_SERVICE, obj, '', errors, $defs);
  return errors.map((e) => e.replace(/^\./, ''));
}

module.exports = {
  SERVING_RUNTIME, INFERENCE_SERVICE, $defs, checkServingRuntime, checkInferenceService,
};
