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

{{/* Where the Redis TLS files (store.redis.tls.existingSecret) are mounted. */}}
{{- define "featbit-agent.redisTlsDir" -}}/etc/featbit-agent/redis-tls{{- end }}

{{/* The Redis settings apply: store.type=redis. */}}
{{- define "featbit-agent.redisTls" -}}
{{- if and (eq .Values.store.type "redis") .Values.store.redis.tls.enabled }}true{{ end }}
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
{{- $r := $v.store.redis }}
{{- if and (eq $v.store.type "redis") (not $r.url) (not $r.sentinel.nodes) (not $r.cluster.nodes) (not $v.existingSecret) }}
{{- fail "featbit-agent: store.type=redis needs store.redis.url=redis://host:6379 (or existingSecret with key REDIS_URL), store.redis.sentinel.nodes with store.redis.sentinel.masterName, or store.redis.cluster.nodes" }}
{{- end }}
{{- $topologies := list }}
{{- if $r.url }}{{ $topologies = append $topologies "store.redis.url" }}{{ end }}
{{- if $r.sentinel.nodes }}{{ $topologies = append $topologies "store.redis.sentinel.nodes" }}{{ end }}
{{- if $r.cluster.nodes }}{{ $topologies = append $topologies "store.redis.cluster.nodes" }}{{ end }}
{{- if gt (len $topologies) 1 }}
{{- fail (printf "featbit-agent: %s exclude each other: set one Redis topology (one server, Sentinel or Cluster)" (join " and " $topologies)) }}
{{- end }}
{{- if and (ne $v.store.type "redis") (or $r.sentinel.nodes $r.cluster.nodes $r.tls.enabled $r.username $r.password) }}
{{- fail (printf "featbit-agent: store.redis.* (sentinel, cluster, tls, username, password) is read with store.type=redis only; store.type is %s" $v.store.type) }}
{{- end }}
{{- if and $r.sentinel.nodes (not $r.sentinel.masterName) }}
{{- fail "featbit-agent: store.redis.sentinel.nodes needs store.redis.sentinel.masterName (the name in the sentinels' `sentinel monitor <name> ...`, often mymaster)" }}
{{- end }}
{{- if and (or $r.sentinel.masterName $r.sentinel.password) (not $r.sentinel.nodes) }}
{{- fail "featbit-agent: store.redis.sentinel.masterName and store.redis.sentinel.password need store.redis.sentinel.nodes (host:port of each sentinel)" }}
{{- end }}
{{- if and $v.existingSecret (or $r.password $r.sentinel.password) }}
{{- fail (printf "featbit-agent: existingSecret replaces the chart's Secret, so store.redis.password and store.redis.sentinel.password would be lost: put them in Secret %s under the keys %s and %s, and leave these values empty (or name another Secret in store.redis.passwordSecret / store.redis.sentinel.passwordSecret)" $v.existingSecret $v.existingSecretKeys.redisPassword $v.existingSecretKeys.redisSentinelPassword) }}
{{- end }}
{{- if and $r.password $r.passwordSecret.name }}
{{- fail "featbit-agent: set store.redis.password or store.redis.passwordSecret.name, not both" }}
{{- end }}
{{- if and $r.sentinel.password $r.sentinel.passwordSecret.name }}
{{- fail "featbit-agent: set store.redis.sentinel.password or store.redis.sentinel.passwordSecret.name, not both" }}
{{- end }}
{{- if and $r.sentinel.passwordSecret.name (not $r.sentinel.nodes) }}
{{- fail "featbit-agent: store.redis.sentinel.passwordSecret needs store.redis.sentinel.nodes" }}
{{- end }}
{{- if and $r.passwordSecret.name (ne $v.store.type "redis") }}
{{- fail (printf "featbit-agent: store.redis.passwordSecret is read with store.type=redis only; store.type is %s" $v.store.type) }}
{{- end }}
{{- if and $r.tls.enabled (not $r.tls.existingSecret) }}
{{- fail "featbit-agent: store.redis.tls.enabled needs store.redis.tls.existingSecret, a Secret holding the CA certificate under store.redis.tls.caKey (for a server whose certificate the system CAs accept, use a rediss:// store.redis.url and leave tls.enabled false)" }}
{{- end }}
{{- if and (not $r.tls.enabled) (or $r.tls.existingSecret $r.tls.certKey $r.tls.keyKey $r.tls.servername) }}
{{- fail "featbit-agent: store.redis.tls.* is set but store.redis.tls.enabled is false: set store.redis.tls.enabled=true" }}
{{- end }}
{{- if and $r.tls.enabled (not (eq (empty $r.tls.certKey) (empty $r.tls.keyKey))) }}
{{- fail "featbit-agent: mutual TLS needs both store.redis.tls.certKey and store.redis.tls.keyKey (the client certificate and its key in store.redis.tls.existingSecret), or neither" }}
{{- end }}
{{- if and $r.tls.enabled $r.url (hasPrefix "redis://" $r.url) }}
{{- fail "featbit-agent: store.redis.tls.enabled with a redis:// url: write the url as rediss://" }}
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
