{{/* Names, labels and the pieces every catalyst-preview pod shares. */}}

{{- define "catalyst-preview.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "catalyst-preview.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "<fullname>-<component>", kept within 63 characters. */}}
{{- define "catalyst-preview.componentName" -}}
{{- printf "%s-%s" (include "catalyst-preview.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "catalyst-preview.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "catalyst-preview.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: catalyst-preview
{{- end }}

{{- define "catalyst-preview.selectorLabels" -}}
app.kubernetes.io/name: {{ include "catalyst-preview.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "catalyst-preview.componentLabels" -}}
{{ include "catalyst-preview.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "catalyst-preview.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "catalyst-preview.githubSecretName" -}}
{{- $s := .Values.github.secret }}
{{- if $s.existingSecret }}{{ $s.existingSecret }}{{ else }}{{ printf "%s-github" (include "catalyst-preview.fullname" .) }}{{ end }}
{{- end }}

{{- define "catalyst-preview.dashboardSecretName" -}}
{{- $s := .Values.dashboard.secret }}
{{- if $s.existingSecret }}{{ $s.existingSecret }}{{ else }}{{ printf "%s-dashboard" (include "catalyst-preview.fullname" .) }}{{ end }}
{{- end }}

{{- define "catalyst-preview.redisUrlEnv" -}}
{{- if .Values.redis.enabled }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "catalyst-preview.redisSecretName" . }}
      key: {{ .Values.redis.auth.existingSecretKey }}
{{- end }}
- name: CATALYST_REDIS_URL
{{- if .Values.redis.enabled }}
  value: {{ printf "redis://:$(REDIS_PASSWORD)@%s-redis:6379/0" (include "catalyst-preview.fullname" .) | quote }}
{{- else if .Values.redis.external.existingSecret }}
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.external.existingSecret }}
      key: {{ .Values.redis.external.existingSecretKey }}
{{- else }}
  value: {{ required "redis.external.url is required when redis.enabled is false" .Values.redis.external.url | quote }}
{{- end }}
{{- end }}

{{/* The ClusterRole a preview namespace's deployer ServiceAccount is bound to (per namespace). */}}
{{- define "catalyst-preview.deployerRole" -}}
{{- printf "%s-deployer" (include "catalyst-preview.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The ClusterRole the reconciler binds in each preview namespace to the worker (pods, logs). */}}
{{- define "catalyst-preview.podReaderRole" -}}
{{- printf "%s-pod-reader" (include "catalyst-preview.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The Secret holding the chart Redis's password (generated once, or the user's own). */}}
{{- define "catalyst-preview.redisSecretName" -}}
{{- .Values.redis.auth.existingSecret | default (printf "%s-redis" (include "catalyst-preview.fullname" .)) }}
{{- end }}

{{/* `maxmemory` for redis: the value set, else 80% of the container's memory limit in bytes. */}}
{{- define "catalyst-preview.redisMaxmemory" -}}
{{- $r := .Values.redis }}
{{- if $r.maxmemory }}
{{- $r.maxmemory }}
{{- else }}
{{- $limit := required "redis.resources.limits.memory (or redis.maxmemory) is required" $r.resources.limits.memory | toString }}
{{- $number := regexFind "^[0-9]+" $limit | int64 }}
{{- $unit := regexFind "[A-Za-z]+$" $limit }}
{{- $scale := dict "" 1 "K" 1000 "M" 1000000 "G" 1000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 }}
{{- if not (hasKey $scale $unit) }}
{{- fail (printf "redis.resources.limits.memory %q: use a plain number or K/M/G/Ki/Mi/Gi" $limit) }}
{{- end }}
{{- div (mul $number (get $scale $unit) 80) 100 }}
{{- end }}
{{- end }}
