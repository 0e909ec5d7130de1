{{/* The labels the platform selects pods by: the service's name (the release's). */}}
{{- define "static-site.selectorLabels" -}}
app.kubernetes.io/name: {{ .Release.Name }}
{{- end }}

{{/* Every object's labels; platform-gen drops Helm's own (helm.sh/chart, managed-by: Helm). */}}
{{- define "static-site.labels" -}}
{{ include "static-site.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
