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
{{- $registry := .image.registry | default .root.Values.image.registry }}
{{- if $registry }}
{{- printf "%s/%s:%s" (trimSuffix "/" $registry) .image.repository $tag }}
{{- else }}
{{- printf "%s:%s" .image.repository $tag }}
{{- end }}
{{- end }}

{{/* Name of the Secret holding the URLs: existingSecret, or the chart's own. */}}
{{- define "jobq.secretName" -}}
{{- default (include "jobq.fullname" .) .Values.existingSecret }}
{{- end }}

{{/*
The password of a bundled server: call with (dict "root" $ "component" "postgresql"). It is
the same in every render of one release, so `helm template` and GitOps tools (Argo CD
renders with `helm template`, where `lookup` sees no cluster) give the Secret a `helm
install` made, and a database initialised with it keeps accepting it:
1. <component>.auth.password, when given (with <component>.auth.existingSecret instead,
   the chart renders no password at all: see jobq.passwordSecret);
2. else the password already in the component's Secret, when the render can read it
   (helm install/upgrade: `lookup`), so a release keeps what it was installed with, even
   a random one from a chart version before derived passwords, or one derived from a
   passwordSeed that changed since;
3. else one derived from passwordSeed, the namespace, the release and the component:
   the first 32 hex digits of their SHA-256. Only as secret as passwordSeed: with none,
   anyone who knows the release's name and namespace can work it out (NOTES.txt says so).
Not random: a random password would differ in each render where `lookup` finds nothing.
Each template that needs it works it out again, with the same result.
*/}}
{{- define "jobq.password" -}}
{{- $auth := get (get .root.Values .component) "auth" }}
{{- if $auth.password }}
{{- $auth.password }}
{{- else }}
{{- $name := printf "%s-%s" (include "jobq.fullname" .root) .component }}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace $name }}
{{- if and $existing $existing.data (hasKey $existing.data "password") }}
{{- index $existing.data "password" | b64dec }}
{{- else }}
{{- $input := list .root.Values.passwordSeed .root.Release.Namespace .root.Release.Name .component | join "/" }}
{{- sha256sum $input | trunc 32 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Name and key of the Secret holding a bundled server's password, as a secretKeyRef: call with
(dict "root" $ "component" "postgresql"). <component>.auth.existingSecret, else the chart's own.
*/}}
{{- define "jobq.passwordSecret" -}}
{{- $auth := get (get .root.Values .component) "auth" -}}
{{- if $auth.existingSecret -}}
name: {{ $auth.existingSecret }}
key: {{ $auth.existingSecretKey }}
{{- else -}}
name: {{ include "jobq.fullname" .root }}-{{ .component }}
key: password
{{- end }}
{{- end }}

{{/* Fails when a bundled server's password is in an existing Secret but jobq's URLs are to be rendered. */}}
{{- define "jobq.passwordKnown" -}}
{{- $auth := get (get .root.Values .component) "auth" }}
{{- if $auth.existingSecret }}
{{- fail (printf "%s.auth.existingSecret needs existingSecret too: the chart never sees that password, so it cannot write jobq's URLs; put them (with the password) in the Secret existingSecret names" .component) }}
{{- end }}
{{- end }}

{{/* The PostgreSQL URL jobq uses, failing with the value to set when there is none. */}}
{{- define "jobq.databaseUrl" -}}
{{- if .Values.postgresql.enabled }}
{{- include "jobq.passwordKnown" (dict "root" . "component" "postgresql") }}
{{- $auth := .Values.postgresql.auth }}
{{- printf "postgresql://%s:%s@%s-postgresql:5432/%s" $auth.username (include "jobq.password" (dict "root" . "component" "postgresql") | urlquery) (include "jobq.fullname" .) $auth.database }}
{{- else }}
{{- required "externalDatabase.url is required when postgresql.enabled is false (or set existingSecret)" .Values.externalDatabase.url }}
{{- end }}
{{- end }}

{{/* The Redis URL jobq uses, failing with the value to set when there is none. */}}
{{- define "jobq.redisUrl" -}}
{{- if .Values.redis.enabled }}
{{- include "jobq.passwordKnown" (dict "root" . "component" "redis") }}
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

{{/* The ServiceAccount a component's pods run as (api, worker): its `serviceAccount.name`,
else the created one, else none (the namespace's default). Call with (dict "root" $ "component" "api"). */}}
{{- define "jobq.serviceAccountName" -}}
{{- $account := (index .root.Values .component).serviceAccount }}
{{- if $account.name }}{{ $account.name }}
{{- else if $account.create }}{{ include "jobq.fullname" .root }}-{{ .component }}
{{- end }}
{{- end }}

{{/* podCommon for the api and the worker, whose ServiceAccount is a value. */}}
{{- define "jobq.workloadPodCommon" -}}
{{- $values := .root.Values -}}
automountServiceAccountToken: {{ (index $values .component).serviceAccount.automountToken }}
{{- with include "jobq.serviceAccountName" . }}
serviceAccountName: {{ . }}
{{- end }}
{{- with $values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $values.podSecurityContext | nindent 2 }}
{{- end }}

{{/*
A component's priorityClassName and topologySpreadConstraints: call with (dict "root" $
"component" "api"). A constraint without a labelSelector gets the component's own pod
labels, which depend on the release name and so cannot be written in values.
*/}}
{{- define "jobq.podScheduling" -}}
{{- $values := get .root.Values .component }}
{{- with $values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $values.topologySpreadConstraints }}
topologySpreadConstraints:
{{- range . }}
{{- $constraint := . }}
{{- if not (hasKey . "labelSelector") }}
{{- $labels := include "jobq.selectorLabels" (dict "root" $.root "component" $.component) | fromYaml }}
{{- $constraint = merge (dict "labelSelector" (dict "matchLabels" $labels)) . }}
{{- end }}
  - {{ toYaml $constraint | nindent 4 | trim }}
{{- end }}
{{- end }}
{{- end }}

{{/*
A component's affinity: its `affinity` value, plus a podAntiAffinity on
`kubernetes.io/hostname` for the component's own pods when `podAntiAffinityPreset` is
soft (preferred) or hard (required) and `affinity` has no podAntiAffinity of its own. Call
with (dict "root" $ "component" "api"); renders nothing when there is no affinity at all.
*/}}
{{- define "jobq.affinity" -}}
{{- $values := get .root.Values .component }}
{{- $affinity := deepCopy ($values.affinity | default dict) }}
{{- $preset := $values.podAntiAffinityPreset | default "" }}
{{- if and $preset (not (hasKey $affinity "podAntiAffinity")) }}
{{- $labels := include "jobq.selectorLabels" (dict "root" .root "component" .component) | fromYaml }}
{{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" $labels) }}
{{- if eq $preset "hard" }}
{{- $_ := set $affinity "podAntiAffinity" (dict "requiredDuringSchedulingIgnoredDuringExecution" (list $term)) }}
{{- else }}
{{- $weighted := dict "weight" 100 "podAffinityTerm" $term }}
{{- $_ := set $affinity "podAntiAffinity" (dict "preferredDuringSchedulingIgnoredDuringExecution" (list $weighted)) }}
{{- end }}
{{- end }}
{{- with $affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Hook events of the migration Job: after install when the bundled PostgreSQL only appears with the release. */}}
{{/*
Whether the migration runs as a Helm hook: asked for (migration.helmHook), and the
database exists before the release. The bundled PostgreSQL does not: a post-install hook
runs only once every pod is ready, and the api is not ready before its schema exists
(`helm install --wait`, Argo CD's PostSync and Flux would wait for ever), so there the
Job is part of the release, waiting for the database while the api and workers wait for it.
*/}}
{{- define "jobq.migrationAsHook" -}}
{{- if and .Values.migration.helmHook (not .Values.postgresql.enabled) }}true{{ end }}
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
        # Retries while PostgreSQL is not up yet (the bundled one starts beside this Job).
        command: ["python", "-m", "jobq_core.cli", "migrate", "--wait-s", "{{ $values.migration.waitForDatabaseSeconds }}"]
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
        emptyDir: {sizeLimit: {{ $root.Values.tmpSizeLimit }}}
{{- end }}
