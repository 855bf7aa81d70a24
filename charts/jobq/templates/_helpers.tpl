{{/* The chart name, or nameOverride. */}}
{{- define "jobq.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name of every object; the release name alone when it already holds the chart name. */}}
{{- define "jobq.fullname" -}}
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

{{/* name-version of the chart, for the helm.sh/chart label. */}}
{{- define "jobq.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select one component's pods: call with (dict "root" $ "component" "api"). */}}
{{- define "jobq.selectorLabels" -}}
app.kubernetes.io/name: {{ include "jobq.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels of every object: call with (dict "root" $ "component" "api"). */}}
{{- define "jobq.labels" -}}
helm.sh/chart: {{ include "jobq.chart" .root }}
{{ include "jobq.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: jobq
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{/* A jobq image: call with (dict "root" $ "image" .Values.api.image). */}}
{{- define "jobq.image" -}}
{{- $tag := .image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion }}
{{- if .root.Values.image.registry }}
{{- printf "%s/%s:%s" (trimSuffix "/" .root.Values.image.registry) .image.repository $tag }}
{{- else }}
{{- printf "%s:%s" .image.repository $tag }}
{{- end }}
{{- end }}

{{/* Name of the Secret holding the URLs: existingSecret, or the chart's own. */}}
{{- define "jobq.secretName" -}}
{{- default (include "jobq.fullname" .) .Values.existingSecret }}
{{- end }}

{{/*
A generated password that survives upgrades: call with (dict "root" $ "component"
"postgresql"). An explicit <component>.auth.password wins; else the one in the
component's Secret from an earlier install; else a new random one. It is stored
back into .Values so every template of this render sees the same value.
*/}}
{{- define "jobq.password" -}}
{{- $auth := get (get .root.Values .component) "auth" }}
{{- if not $auth.password }}
{{- $name := printf "%s-%s" (include "jobq.fullname" .root) .component }}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace $name }}
{{- if and $existing $existing.data (hasKey $existing.data "password") }}
{{- $_ := set $auth "password" (index $existing.data "password" | b64dec) }}
{{- else }}
{{- $_ := set $auth "password" (randAlphaNum 24) }}
{{- end }}
{{- end }}
{{- $auth.password }}
{{- end }}

{{/* The PostgreSQL URL jobq uses, failing with the value to set when there is none. */}}
{{- define "jobq.databaseUrl" -}}
{{- if .Values.postgresql.enabled }}
{{- $auth := .Values.postgresql.auth }}
{{- printf "postgresql://%s:%s@%s-postgresql:5432/%s" $auth.username (include "jobq.password" (dict "root" . "component" "postgresql") | urlquery) (include "jobq.fullname" .) $auth.database }}
{{- else }}
{{- required "externalDatabase.url is required when postgresql.enabled is false (or set existingSecret)" .Values.externalDatabase.url }}
{{- end }}
{{- end }}

{{/* The Redis URL jobq uses, failing with the value to set when there is none. */}}
{{- define "jobq.redisUrl" -}}
{{- if .Values.redis.enabled }}
{{- printf "redis://:%s@%s-redis:6379/0" (include "jobq.password" (dict "root" . "component" "redis") | urlquery) (include "jobq.fullname" .) }}
{{- else }}
{{- required "externalRedis.url is required when redis.enabled is false (or set existingSecret)" .Values.externalRedis.url }}
{{- end }}
{{- end }}

{{/* JOBQ_DATABASE_URL and JOBQ_REDIS_URL from the Secret, as container env entries. */}}
{{- define "jobq.secretEnv" -}}
- name: JOBQ_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "jobq.secretName" . }}
      key: {{ ternary .Values.existingSecretKeys.databaseUrl "databaseUrl" (ne .Values.existingSecret "") }}
- name: JOBQ_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "jobq.secretName" . }}
      key: {{ ternary .Values.existingSecretKeys.redisUrl "redisUrl" (ne .Values.existingSecret "") }}
{{- end }}

{{/* Rolls the pods when the ConfigMap or the chart's Secret changes. */}}
{{- define "jobq.checksum" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}

{{/* Pod-level settings shared by the jobq pods. */}}
{{- define "jobq.podCommon" -}}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}

{{/* Hook events of the migration Job: after install when the bundled PostgreSQL only appears with the release. */}}
{{- define "jobq.migrationHooks" -}}
{{- if .Values.postgresql.enabled }}post-install,pre-upgrade{{ else }}pre-install,pre-upgrade{{ end }}
{{- end }}

{{/* Whether the operator owns the worker count (the worker Deployment then has no spec.replicas). */}}
{{- define "jobq.operatorScalesWorkers" -}}
{{- if and .Values.operator.enabled .Values.operator.scaler.enabled }}true{{ end }}
{{- end }}

{{/* Name of the operator's ServiceAccount, Role and bindings. */}}
{{- define "jobq.operatorName" -}}
{{- printf "%s-operator" (include "jobq.fullname" .) }}
{{- end }}

{{/* The migration Job's spec: call with (dict "root" $ "secret" <Secret name>). */}}
{{- define "jobq.migrationJobSpec" -}}
{{- $root := .root }}
{{- $values := .root.Values }}
backoffLimit: {{ $values.migration.backoffLimit }}
activeDeadlineSeconds: {{ $values.migration.activeDeadlineSeconds }}
template:
  metadata:
    labels:
      {{- include "jobq.labels" (dict "root" $root "component" "migration") | nindent 6 }}
  spec:
    {{- include "jobq.podCommon" $root | nindent 4 }}
    restartPolicy: Never
    containers:
      - name: migrate
        image: {{ include "jobq.image" (dict "root" $root "image" $values.api.image) }}
        imagePullPolicy: {{ $values.image.pullPolicy }}
        command: ["python", "-m", "jobq_core.cli", "migrate"]
        env:
          - name: JOBQ_DATABASE_URL
            valueFrom:
              secretKeyRef:
                name: {{ .secret }}
                key: {{ ternary $values.existingSecretKeys.databaseUrl "databaseUrl" (ne $values.existingSecret "") }}
          - name: JOBQ_REDIS_URL
            valueFrom:
              secretKeyRef:
                name: {{ .secret }}
                key: {{ ternary $values.existingSecretKeys.redisUrl "redisUrl" (ne $values.existingSecret "") }}
        securityContext:
          {{- toYaml $values.securityContext | nindent 10 }}
        resources:
          {{- toYaml $values.migration.resources | nindent 10 }}
        volumeMounts:
          - name: tmp
            mountPath: /tmp
    volumes:
      - name: tmp
        emptyDir: {}
{{- end }}
