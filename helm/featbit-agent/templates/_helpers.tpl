{{- define "featbit-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "featbit-agent.fullname" -}}
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

{{- define "featbit-agent.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "featbit-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "featbit-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "featbit-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "featbit-agent.secretName" -}}
{{- default (include "featbit-agent.fullname" .) .Values.existingSecret }}
{{- end }}

{{- define "featbit-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "featbit-agent.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Where the offline data file is mounted, and whether one is configured. */}}
{{- define "featbit-agent.dataFileDir" -}}/etc/featbit-agent/data{{- end }}

{{- define "featbit-agent.hasDataFile" -}}
{{- with .Values.offline.dataFile }}{{ if or .content .existingConfigMap .existingSecret }}true{{ end }}{{ end }}
{{- end }}

{{- define "featbit-agent.dataConfigMapName" -}}
{{- printf "%s-data" (include "featbit-agent.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The pods expected at the least: replicaCount, or the HPA's minimum. */}}
{{- define "featbit-agent.minPods" -}}
{{- if .Values.autoscaling.enabled }}{{ .Values.autoscaling.minReplicas }}{{ else }}{{ .Values.replicaCount }}{{ end }}
{{- end }}

{{- define "featbit-agent.maxPods" -}}
{{- if .Values.autoscaling.enabled }}{{ .Values.autoscaling.maxReplicas }}{{ else }}{{ .Values.replicaCount }}{{ end }}
{{- end }}

{{- define "featbit-agent.gracePeriod" -}}
{{- $needed := add .Values.agent.shutdownTimeoutSeconds .Values.preStopSleepSeconds }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}{{ add $needed 10 }}{{ else }}{{ .Values.terminationGracePeriodSeconds }}{{ end }}
{{- end }}

{{/*
Combinations that cannot work are refused at render time, with what to set instead.
Included by the Deployment, so `helm template`, `helm install` and `helm lint` all stop on them.
*/}}
{{- define "featbit-agent.validate" -}}
{{- $v := .Values }}
{{- $maxPods := include "featbit-agent.maxPods" . | int }}
{{- $hasData := include "featbit-agent.hasDataFile" . }}
{{- if and (eq $v.agent.mode "agent") (not $v.agent.streamingUri) }}
{{- fail "featbit-agent: agent.mode=agent needs agent.streamingUri (the FeatBit evaluation server, e.g. ws://featbit-els:5100)" }}
{{- end }}
{{- if and (eq $v.agent.mode "agent") (not $v.apiKey) (not $v.existingSecret) }}
{{- fail "featbit-agent: agent.mode=agent needs the relay proxy key: set apiKey=rp-… or existingSecret" }}
{{- end }}
{{- if and (eq $v.store.type "redis") (not $v.store.redis.url) (not $v.existingSecret) }}
{{- fail "featbit-agent: store.type=redis needs store.redis.url=redis://host:6379 or existingSecret (key REDIS_URL)" }}
{{- end }}
{{- $sources := 0 }}
{{- range list $v.offline.dataFile.content $v.offline.dataFile.existingConfigMap $v.offline.dataFile.existingSecret }}{{ if . }}{{ $sources = add1 $sources }}{{ end }}{{ end }}
{{- if gt $sources 1 }}
{{- fail "featbit-agent: set only one of offline.dataFile.content, offline.dataFile.existingConfigMap, offline.dataFile.existingSecret" }}
{{- end }}
{{- if and $hasData (eq $v.agent.mode "agent") }}
{{- fail "featbit-agent: offline.dataFile is read in offline mode only: set agent.mode=offline or remove offline.dataFile" }}
{{- end }}
{{- if and (eq $v.agent.mode "offline") (not $hasData) (not $v.apiKey) (not $v.existingSecret) }}
{{- fail (printf "featbit-agent: an offline agent needs its data: set offline.dataFile.content (e.g. --set-file offline.dataFile.content=flags.json), offline.dataFile.existingConfigMap or offline.dataFile.existingSecret; or set apiKey=rp-… (or existingSecret) so FeatBit can push it to the %s-admin Service; or set agent.mode=agent with agent.streamingUri and apiKey. See examples/ in the chart." (include "featbit-agent.fullname" .)) }}
{{- end }}
{{- if and (eq $v.agent.mode "offline") (ne $v.store.type "redis") (gt $maxPods 1) }}
{{- $readOnly := and $hasData (not $v.apiKey) (not $v.existingSecret) }}
{{- if not $readOnly }}
{{- fail (printf "featbit-agent: offline mode with store.type=%s keeps each pod's data to itself: a bootstrap push through the Service reaches one pod and the pods serve different flags. Set store.type=redis (with store.redis.url) so the pods share one store, or replicaCount=1 and autoscaling.enabled=false. (Several pods on their own stores agree only when they all read offline.dataFile and no admin key is set: apiKey and existingSecret empty.)" $v.store.type) }}
{{- end }}
{{- end }}
{{- if and $v.persistence.enabled (gt $maxPods 1) }}
{{- fail "featbit-agent: persistence.enabled gives the pods one ReadWriteOnce volume that only one pod can use: set replicaCount=1 and autoscaling.enabled=false, or use store.type=redis with persistence.enabled=false" }}
{{- end }}
{{- if and (eq $v.store.type "sqlite") (not (hasPrefix "/data/" $v.store.sqlite.path)) }}
{{- fail "featbit-agent: store.sqlite.path must lie under /data/ (the data volume; the root file system is read-only)" }}
{{- end }}
{{- if and $v.autoscaling.enabled (gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) }}
{{- fail "featbit-agent: autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- $needed := add $v.agent.shutdownTimeoutSeconds $v.preStopSleepSeconds }}
{{- if le (include "featbit-agent.gracePeriod" . | int) (int $needed) }}
{{- fail (printf "featbit-agent: terminationGracePeriodSeconds must exceed agent.shutdownTimeoutSeconds + preStopSleepSeconds (%d): set it to at least %d, or leave it empty" (int $needed) (add $needed 1)) }}
{{- end }}
{{- end }}
