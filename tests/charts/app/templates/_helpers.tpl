{{- define "app.image" -}}
{{- $web := required "global.images.web is required (catalyst-preview injects it from the build named web)" .Values.global.images.web -}}
{{ required "global.images.web.repository is required" $web.repository }}:{{ required "global.images.web.tag is required" $web.tag }}
{{- end -}}
{{- define "app.labels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- range $k, $v := .Values.global.labels }}
{{ $k }}: {{ $v | quote }}
{{- end }}
{{- end -}}
