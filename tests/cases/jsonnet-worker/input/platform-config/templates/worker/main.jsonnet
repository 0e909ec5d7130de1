local lib = import '_lib.libsonnet';
function(ctx)
local v = ctx.values;
{
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: ctx.service.name, labels: lib.labels(ctx.service.name) },
  spec: {
    replicas: v.replicas,
    selector: { matchLabels: lib.labels(ctx.service.name) },
    template: {
      metadata: { labels: lib.labels(ctx.service.name) },
      spec: {
        containers: [{
          name: 'app',
          image: v.image + ':' + v.tag,
          env: [{ name: k, value: v.env[k] } for k in std.objectFields(v.env)],
          livenessProbe: { httpGet: { path: v.healthPath, port: v.port } },
        }],
      },
    },
  },
}
