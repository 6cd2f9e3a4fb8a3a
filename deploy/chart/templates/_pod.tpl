{{/*
One Deployment per process, all from the same image. Called with a dict:
  root       the chart context
  component  web | worker | reconciler | beat
  args       the `catalyst-preview` subcommand and its flags
  values     .Values.<component>
  cluster    true: mount the ServiceAccount token (worker, reconciler); false: no cluster access
  githubKey  true: mount the App private key (worker, reconciler)
  metrics    true: set CATALYST_METRICS_PORT and expose the `metrics` port
  replicas   replica count
  recreate   true: never run two pods at once during a rollout (beat)
  httpPort   the `http` container port (web, dashboard); empty: none
  dashboard  true: the dashboard's OAuth client secret and session key (by Secret reference)
*/}}
{{- define "catalyst-preview.deployment" -}}
{{- $root := .root }}
{{- $v := .values }}
{{- $ctx := dict "root" $root "component" .component }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "catalyst-preview.componentName" $ctx }}
  labels:
    {{- include "catalyst-preview.componentLabels" $ctx | nindent 4 }}
spec:
  replicas: {{ .replicas }}
  revisionHistoryLimit: 5
  {{- if .recreate }}
  strategy:
    type: Recreate
  {{- end }}
  selector:
    matchLabels:
      {{- include "catalyst-preview.selectorLabels" $ctx | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "catalyst-preview.selectorLabels" $ctx | nindent 8 }}
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        {{- if $root.Values.github.secret.create }}
        checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
        {{- end }}
        {{- if $root.Values.metrics.podAnnotations }}
        prometheus.io/scrape: "true"
        prometheus.io/path: /metrics
        prometheus.io/port: {{ ternary $root.Values.metrics.port $root.Values.web.port .metrics | quote }}
        {{- end }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "catalyst-preview.componentName" $ctx }}
      automountServiceAccountToken: {{ .cluster }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      terminationGracePeriodSeconds: 30
      containers:
        - name: {{ .component }}
          image: {{ include "catalyst-preview.image" $root | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args:
            {{- toYaml .args | nindent 12 }}
            - --log-level
            - {{ $root.Values.config.logLevel | quote }}
          {{- if or .httpPort .metrics }}
          ports:
            {{- with .httpPort }}
            - name: http
              containerPort: {{ . }}
              protocol: TCP
            {{- end }}
            {{- if .metrics }}
            - name: metrics
              containerPort: {{ $root.Values.metrics.port }}
              protocol: TCP
            {{- end }}
          {{- end }}
          envFrom:
            - configMapRef:
                name: {{ include "catalyst-preview.fullname" $root }}
          env:
            {{- include "catalyst-preview.commonEnv" (dict "root" $root "githubKey" .githubKey "metrics" .metrics "component" .component) | nindent 12 }}
            {{- if .dashboard }}
            {{- include "catalyst-preview.dashboardEnv" $root | nindent 12 }}
            {{- end }}
          {{- with $v.livenessProbe }}
          livenessProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $v.readinessProbe }}
          readinessProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.containerSecurityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if .githubKey }}
            - name: github-app-key
              mountPath: /var/run/catalyst/github
              readOnly: true
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: {{ $root.Values.tmpSizeLimit }}
        {{- if .githubKey }}
        - name: github-app-key
          secret:
            secretName: {{ include "catalyst-preview.githubSecretName" $root }}
            defaultMode: 0440
            items:
              - key: {{ $root.Values.github.secret.privateKeyKey }}
                path: private-key.pem
        {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}

{{/* The dashboard's own secrets: the App's OAuth client secret and the session key. */}}
{{- define "catalyst-preview.dashboardEnv" -}}
{{- $name := include "catalyst-preview.dashboardSecretName" . -}}
- name: CATALYST_GITHUB_CLIENT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ .Values.dashboard.secret.clientSecretKey }}
- name: CATALYST_DASHBOARD_SESSION_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ .Values.dashboard.secret.sessionKeyKey }}
{{- end }}

{{/* Environment shared by every process container (secrets by reference, never inline). */}}
{{- define "catalyst-preview.commonEnv" -}}
{{- $root := .root -}}
- name: CATALYST_WEBHOOK_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "catalyst-preview.githubSecretName" $root }}
      key: {{ $root.Values.github.secret.webhookSecretKey }}
{{- include "catalyst-preview.redisUrlEnv" $root | nindent 0 }}
{{- if .githubKey }}
- name: CATALYST_GITHUB_PRIVATE_KEY_FILE
  value: /var/run/catalyst/github/private-key.pem
{{- end }}
{{- if eq .component "reconciler" }}
# keys the managed-service passwords of every preview (random, generated once by the chart)
- name: CATALYST_SERVICE_PASSWORD_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "catalyst-preview.fullname" $root }}-service-key
      key: service-password-key
{{- end }}
{{- if .metrics }}
- name: CATALYST_METRICS_PORT
  value: {{ $root.Values.metrics.port | quote }}
{{- end }}
# The root filesystem is read-only: home, helm's cache/config/data live in the /tmp emptyDir.
- name: HOME
  value: /tmp
- name: HELM_CACHE_HOME
  value: /tmp/helm/cache
- name: HELM_CONFIG_HOME
  value: /tmp/helm/config
- name: HELM_DATA_HOME
  value: /tmp/helm/data
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- with $root.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}
