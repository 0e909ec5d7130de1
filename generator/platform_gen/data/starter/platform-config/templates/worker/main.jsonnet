// worker: a queue consumer or batch worker with no Service; it exposes its health
// endpoint on `port` for the kubelet's probes only.
function(ctx)
local svc = ctx.service;
local v = ctx.values;
local labels = { 'app.kubernetes.io/name': svc.name };

local container = {
  name: 'app',
  image: v.image + ':' + v.tag,
  ports: [{ name: 'health', containerPort: v.port, protocol: 'TCP' }] + (
    // the metrics port, when it is not the health port (a PodMonitor scrapes it: workers have no Service)
    local m = if std.objectHas(v, 'metrics') && v.metrics != null then v.metrics else {};
    if std.objectHas(m, 'port') && m.port != v.port
    then [{ name: 'metrics', containerPort: m.port, protocol: 'TCP' }] else []
  ),
  [if std.length(std.objectFields(v.env)) > 0 then 'env']: [
    { name: k, value: v.env[k] }
    for k in std.objectFields(v.env)
  ],
  // connection Secrets of the service's databases, buckets and queues
  [if std.length(ctx.infrastructure) > 0 then 'envFrom']: [
    { prefix: c.envPrefix, secretRef: { name: c.secretName } + (if c.optional then { optional: true } else {}) }
    for c in ctx.infrastructure
  ],
  resources: v.resources,
  readinessProbe: { httpGet: { path: v.healthPath, port: 'health' }, periodSeconds: 10 },
  livenessProbe: { httpGet: { path: v.healthPath, port: 'health' }, initialDelaySeconds: 15, periodSeconds: 20 },
  securityContext: {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    privileged: false,
    capabilities: { drop: ['ALL'] },
  },
  volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
};

[
  {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: svc.name, labels: labels } + (
      if svc.description != '' then { annotations: { 'platform-gen.io/description': svc.description } } else {}
    ),
    spec: {
      replicas: v.replicas,
      revisionHistoryLimit: 5,
      selector: { matchLabels: labels },
      // Workers drain their in-flight work; replace pods one at a time.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: labels },
        spec: {
          serviceAccountName: svc.name,
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: 60,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 10001,
            runAsGroup: 10001,
            fsGroup: 10001,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [container],
          volumes: [{ name: 'tmp', emptyDir: {} }],
        },
      },
    },
  },
  {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: svc.name, labels: labels },
    automountServiceAccountToken: false,
  },
]
