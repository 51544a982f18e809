{{/* Names ------------------------------------------------------------------------------ */}}

{{- define "heartbeat.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release name + chart name, shortened to leave room for the component suffixes. */}}
{{- define "heartbeat.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "heartbeat.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels: call with (dict "ctx" $ "component" "pingserver") ---------------------------- */}}

{{- define "heartbeat.selectorLabels" -}}
app.kubernetes.io/name: {{ include "heartbeat.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{- define "heartbeat.labels" -}}
helm.sh/chart: {{ include "heartbeat.chart" .ctx }}
{{ include "heartbeat.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: heartbeat-operator
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Resource names ---------------------------------------------------------------------- */}}

{{- define "heartbeat.secretName" -}}
{{- default (include "heartbeat.fullname" .) .Values.auth.existingSecret }}
{{- end }}

{{- define "heartbeat.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "heartbeat.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "heartbeat.operatorServiceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (printf "%s-operator" (include "heartbeat.fullname" .)) .Values.operator.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "heartbeat.pingserverName" -}}
{{- printf "%s-pingserver" (include "heartbeat.fullname" .) }}
{{- end }}

{{- define "heartbeat.redisName" -}}
{{- printf "%s-redis" (include "heartbeat.fullname" .) }}
{{- end }}

{{- define "heartbeat.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* URLs -------------------------------------------------------------------------------- */}}

{{/* The ping server inside the cluster (what the operator and job pods use). */}}
{{- define "heartbeat.pingserverURL" -}}
{{- printf "http://%s.%s.svc.%s:%v" (include "heartbeat.pingserverName" .) .Release.Namespace .Values.clusterDomain .Values.pingserver.service.port }}
{{- end }}

{{- define "heartbeat.siteRoot" -}}
{{- if .Values.siteRoot }}
{{- .Values.siteRoot | trimSuffix "/" }}
{{- else if .Values.pingserver.ingress.enabled }}
{{- printf "%s://%s%s" (ternary "https" "http" (gt (len .Values.pingserver.ingress.tls) 0)) .Values.pingserver.ingress.host (.Values.pingserver.ingress.path | trimSuffix "/") }}
{{- else }}
{{- include "heartbeat.pingserverURL" . }}
{{- end }}
{{- end }}

{{/* Redis ------------------------------------------------------------------------------- */}}

{{- define "heartbeat.redisPasswordSecret" -}}
{{- if .Values.redis.auth.existingSecret }}
{{- .Values.redis.auth.existingSecret }}
{{- else }}
{{- include "heartbeat.secretName" . }}
{{- end }}
{{- end }}

{{- define "heartbeat.redisPasswordKey" -}}
{{- if .Values.redis.auth.existingSecret }}
{{- .Values.redis.auth.existingSecretPasswordKey }}
{{- else }}
{{- "redis-password" }}
{{- end }}
{{- end }}

{{/* HB_REDIS_URL, without credentials: the password goes in HB_REDIS_PASSWORD, so it
need not be URL-safe. */}}
{{- define "heartbeat.redisURL" -}}
{{- if eq .Values.redis.mode "bundled" }}
{{- printf "redis://%s.%s.svc.%s:6379/0" (include "heartbeat.redisName" .) .Release.Namespace .Values.clusterDomain }}
{{- else }}
{{- .Values.redis.external.url }}
{{- end }}
{{- end }}

{{/* "true" when the ping server and worker find the primary through Sentinel. */}}
{{- define "heartbeat.sentinel" -}}
{{- if and (eq .Values.redis.mode "external") .Values.redis.external.sentinel.hosts }}true{{ end }}
{{- end }}

{{/* The env vars every server-side role shares: Redis and the site root. */}}
{{- define "heartbeat.redisEnv" -}}
{{- if .Values.redis.auth.enabled }}
- name: HB_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "heartbeat.redisPasswordSecret" . }}
      key: {{ include "heartbeat.redisPasswordKey" . }}
{{- end }}
{{- if include "heartbeat.sentinel" . }}
{{- with .Values.redis.external.sentinel }}
- name: HB_REDIS_SENTINELS
  value: {{ join "," .hosts | quote }}
- name: HB_REDIS_SENTINEL_MASTER
  value: {{ .masterName | quote }}
{{- if .existingSecret }}
- name: HB_REDIS_SENTINEL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .existingSecretPasswordKey }}
{{- end }}
{{- end }}
{{- end }}
{{- if or (not (include "heartbeat.sentinel" .)) .Values.redis.external.url }}
- name: HB_REDIS_URL
  value: {{ include "heartbeat.redisURL" . | quote }}
{{- end }}
{{- if .Values.redis.waitReplicas }}
- name: HB_REDIS_WAIT_REPLICAS
  value: {{ .Values.redis.waitReplicas | quote }}
- name: HB_REDIS_WAIT_TIMEOUT_MS
  value: {{ .Values.redis.waitTimeoutMs | quote }}
{{- end }}
- name: HB_REDIS_CLUSTER
  value: {{ and (eq .Values.redis.mode "external") .Values.redis.external.cluster | quote }}
- name: HB_SITE_ROOT
  value: {{ include "heartbeat.siteRoot" . | quote }}
{{- end }}

{{- define "heartbeat.secretEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ include "heartbeat.secretName" .ctx }}
      key: {{ .key }}
{{- end }}

{{/* Checks of contradictory values, included by the Secret template. */}}
{{- define "heartbeat.validate" -}}
{{- if and (eq .Values.redis.mode "external") (not .Values.redis.external.url) (not .Values.redis.external.sentinel.hosts) }}
{{- fail "redis.mode=external needs redis.external.url (or redis.external.sentinel.hosts)" }}
{{- end }}
{{- if and .Values.redis.external.sentinel.hosts (ne .Values.redis.mode "external") }}
{{- fail "redis.external.sentinel.hosts needs redis.mode=external" }}
{{- end }}
{{- if and (include "heartbeat.sentinel" .) .Values.redis.external.cluster }}
{{- fail "redis.external.sentinel.hosts and redis.external.cluster exclude each other" }}
{{- end }}
{{- if and .Values.redis.waitReplicas (not (include "heartbeat.sentinel" .)) }}
{{- fail "redis.waitReplicas needs replicas to wait for: an external Redis with Sentinel (redis.external.sentinel.hosts)" }}
{{- end }}
{{- if and (eq .Values.redis.mode "external") .Values.redis.auth.enabled (not .Values.redis.auth.existingSecret) }}
{{- fail "redis.mode=external with redis.auth.enabled needs redis.auth.existingSecret (or set redis.auth.enabled=false)" }}
{{- end }}
{{- if and (eq .Values.redis.mode "external") (contains "@" .Values.redis.external.url) }}
{{- fail "redis.external.url must not contain credentials: put the password in redis.auth.existingSecret" }}
{{- end }}
{{- end }}

{{/* The pod-level fields every Deployment shares. */}}
{{- define "heartbeat.podCommon" -}}
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .ctx.Values.podSecurityContext | nindent 2 }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The operator's rules on namespaced resources (a ClusterRole's or each Role's). */}}
{{- define "heartbeat.operatorNamespacedRules" -}}
# HeartbeatCheck and AlertChannel: Kopf handlers and indexes (watch; patch for finalizers
# and its progress annotations), status written by handlers and the background loop;
# create/delete for the checks of annotated CronJobs.
- apiGroups: [heartbeat.dev]
  resources: [heartbeatchecks, alertchannels]
  verbs: [get, list, watch, patch, create, delete]
# HeartbeatSilence: Kopf handlers and timers (watch; patch for its finalizer); status.
- apiGroups: [heartbeat.dev]
  resources: [heartbeatsilences]
  verbs: [get, list, watch, patch]
- apiGroups: [heartbeat.dev]
  resources: [heartbeatchecks/status, alertchannels/status, heartbeatsilences/status]
  verbs: [get, patch]
# Owner references with blockOwnerDeletion need update on the owner's finalizers.
- apiGroups: [heartbeat.dev]
  resources: [heartbeatchecks/finalizers, alertchannels/finalizers]
  verbs: [update]
# Annotated CronJobs and their Jobs: the second signal source (start, success, failure).
# CronJobs are only read; a Job gets the ledger annotation heartbeat.dev/reported (patch).
- apiGroups: [batch]
  resources: [cronjobs]
  verbs: [get, list, watch]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, patch]
# Generated HeartbeatChecks are owned by their CronJob (blockOwnerDeletion needs this).
- apiGroups: [batch]
  resources: [cronjobs/finalizers]
  verbs: [update]
# The log tail of a failed Job's pod goes into the failure ping.
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list]
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
# AlertChannel credentials (read by reference) and the ping-key Secret per namespace.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create, patch]
# The state ConfigMap (flips-feed cursor) carries the background loop, a Kopf daemon.
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch, create, patch]
# Kubernetes Events for flips, registrations and errors (Kopf posts core v1 Events); the
# CronJob controller's Events (MissSchedule, JobAlreadyActive, ...) are watched.
- apiGroups: [""]
  resources: [events]
  verbs: [list, watch, create, patch]
{{- end }}
