{{/* Names, labels, and the environment every Podium process reads (PODIUM_*). */}}

{{- define "podium.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "podium.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "podium.labels" -}}
{{ include "podium.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: podium
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* A component's values: `default:` overridden by its entry under `components:`. */}}
{{- define "podium.component" -}}
{{- $component := index .root.Values.components .name -}}
{{- toYaml (mergeOverwrite (deepCopy .root.Values.default) (deepCopy $component)) -}}
{{- end -}}

{{- define "podium.image" -}}
{{- $registry := .root.Values.image.registry -}}
{{- $tag := .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- printf "%s%s:%s" (ternary "" (printf "%s/" $registry) (empty $registry)) .image.repository $tag -}}
{{- end -}}

{{/* The consumer group of a service: `Topics.group` in podium_common.topics. */}}
{{- define "podium.consumerGroup" -}}
{{- printf "%spodium-%s" .root.Values.kafka.topicPrefix .name -}}
{{- end -}}

{{- define "podium.securityProtocol" -}}
{{- $kafka := .Values.kafka -}}
{{- if and $kafka.sasl.enabled $kafka.tls.enabled -}}SASL_SSL
{{- else if $kafka.sasl.enabled -}}SASL_PLAINTEXT
{{- else if $kafka.tls.enabled -}}SSL
{{- else -}}PLAINTEXT
{{- end -}}
{{- end -}}

{{/*
The data of the chart's Secrets, for the keys in `.keys` (llm, postgres, kafka): only
values given inline; an `existingSecret` is referenced where it is used instead.
*/}}
{{- define "podium.secretData" -}}
{{- $values := .root.Values -}}
{{- if and (has "llm" .keys) (not $values.llm.existingSecret) }}
llm-api-key: {{ $values.llm.apiKey | b64enc | quote }}
{{- end }}
{{- if and (has "postgres" .keys) (not $values.postgres.existingSecret) }}
postgres-dsn: {{ required "postgres.dsn or postgres.existingSecret is required" $values.postgres.dsn | b64enc | quote }}
{{- end }}
{{- if and (has "kafka" .keys) $values.kafka.sasl.enabled (not $values.kafka.sasl.existingSecret) }}
kafka-sasl-password: {{ required "kafka.sasl.password or kafka.sasl.existingSecret is required" $values.kafka.sasl.password | b64enc | quote }}
{{- end }}
{{- end -}}

{{/* The Kafka block: PODIUM_KAFKA__*. `.secret` names the chart Secret to read from. */}}
{{- define "podium.kafkaEnv" -}}
{{- $kafka := .root.Values.kafka -}}
- name: PODIUM_KAFKA__BOOTSTRAP_SERVERS
  value: {{ required "kafka.bootstrapServers is required" $kafka.bootstrapServers | quote }}
- name: PODIUM_KAFKA__TOPIC_PREFIX
  value: {{ $kafka.topicPrefix | quote }}
{{- /* What the setup hook creates, and what the services check the topics against. */}}
- name: PODIUM_KAFKA__PARTITIONS
  value: {{ $kafka.partitions | quote }}
- name: PODIUM_KAFKA__REPLICATION_FACTOR
  value: {{ $kafka.replicationFactor | quote }}
- name: PODIUM_KAFKA__RETENTION_MS
  value: {{ $kafka.retentionMs | quote }}
- name: PODIUM_KAFKA__DLQ_RETENTION_MS
  value: {{ $kafka.dlqRetentionMs | quote }}
- name: PODIUM_KAFKA__SECURITY_PROTOCOL
  value: {{ include "podium.securityProtocol" .root }}
{{- if $kafka.sasl.enabled }}
- name: PODIUM_KAFKA__SASL_MECHANISM
  value: {{ $kafka.sasl.mechanism | quote }}
- name: PODIUM_KAFKA__SASL_USERNAME
  value: {{ required "kafka.sasl.username is required" $kafka.sasl.username | quote }}
- name: PODIUM_KAFKA__SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $kafka.sasl.existingSecret | default .secret }}
      key: {{ ternary $kafka.sasl.existingSecretKey "kafka-sasl-password" (not (empty $kafka.sasl.existingSecret)) }}
{{- end }}
{{- if include "podium.kafkaCa" .root }}
- name: PODIUM_KAFKA__SSL_CAFILE
  value: /etc/podium/kafka-ca/{{ $kafka.tls.caSecretKey }}
{{- end }}
{{- end -}}

{{- define "podium.postgresEnv" -}}
{{- $postgres := .root.Values.postgres -}}
- name: PODIUM_POSTGRES__DSN
  valueFrom:
    secretKeyRef:
      name: {{ $postgres.existingSecret | default .secret }}
      key: {{ ternary $postgres.existingSecretKey "postgres-dsn" (not (empty $postgres.existingSecret)) }}
{{- include "podium.postgresTlsEnv" .root }}
{{- end -}}

{{/* How every PostgreSQL connection uses TLS: libpq's PGSSLMODE and PGSSLROOTCERT, which
asyncpg reads too (a DSN's own sslmode wins). The CA comes from postgres.tls.caSecret. */}}
{{- define "podium.postgresTlsEnv" -}}
{{- $tls := .Values.postgres.tls -}}
{{- if $tls.sslmode }}
- name: PGSSLMODE
  value: {{ $tls.sslmode | quote }}
{{- end }}
{{- if $tls.caSecret }}
- name: PGSSLROOTCERT
  value: /etc/podium/postgres-ca/{{ $tls.caSecretKey }}
{{- end }}
{{- end -}}

{{- define "podium.llmEnv" -}}
{{- $llm := .root.Values.llm -}}
- name: PODIUM_LLM__BASE_URL
  value: {{ required "llm.baseUrl is required" $llm.baseUrl | quote }}
- name: PODIUM_LLM__TIMEOUT_S
  value: {{ $llm.timeoutSeconds | quote }}
- name: PODIUM_LLM__API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $llm.existingSecret | default .secret }}
      key: {{ ternary $llm.existingSecretKey "llm-api-key" (not (empty $llm.existingSecret)) }}
{{- $ledger := .root.Values.ledger }}
{{- if $ledger.enabled }}
{{- $postgres := .root.Values.postgres }}
- name: PODIUM_LEDGER__DSN
  valueFrom:
    secretKeyRef:
      name: {{ $postgres.existingSecret | default .secret }}
      key: {{ ternary $postgres.existingSecretKey "postgres-dsn" (not (empty $postgres.existingSecret)) }}
{{- include "podium.postgresTlsEnv" .root }}
{{- if $ledger.defaultBudget }}
- name: PODIUM_LEDGER__DEFAULT_BUDGET
  value: {{ $ledger.defaultBudget | int64 | quote }}
{{- end }}
- name: PODIUM_LEDGER__TENANT_BUDGETS
  value: {{ $ledger.tenantBudgets | toJson | quote }}
- name: PODIUM_LEDGER__RATE_LIMITS
  value: {{ $ledger.rateLimits | toJson | quote }}
{{- end }}
{{- end -}}

{{/*
Traces: the standard OTEL_* variables from `tracing`, for the component `.name` (its
OTEL_SERVICE_NAME); none when no exporter is set, so the SDK stays off.
*/}}
{{- define "podium.tracingEnv" -}}
{{- $tracing := .root.Values.tracing -}}
{{- if $tracing.exporter }}
- name: OTEL_TRACES_EXPORTER
  value: {{ $tracing.exporter | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ printf "podium-%s" .name | quote }}
{{- if $tracing.endpoint }}
- name: {{ ternary "OTEL_EXPORTER_ZIPKIN_ENDPOINT" "OTEL_EXPORTER_OTLP_ENDPOINT" (eq $tracing.exporter "zipkin") }}
  value: {{ $tracing.endpoint | quote }}
{{- end }}
{{- if $tracing.sampler }}
- name: OTEL_TRACES_SAMPLER
  value: {{ $tracing.sampler | quote }}
{{- end }}
{{- if $tracing.samplerArg }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ $tracing.samplerArg | quote }}
{{- end }}
{{- with $tracing.resourceAttributes }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ include "podium.keyValues" . | quote }}
{{- end }}
{{- range $key, $value := $tracing.env }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}
{{- if and $tracing.traceUrl (eq .name "gateway") }}
- name: PODIUM_TRACE_URL
  value: {{ $tracing.traceUrl | quote }}
{{- end }}
{{- end -}}

{{/* A map as `k1=v1,k2=v2`, keys sorted (the W3C Baggage form OTEL_RESOURCE_ATTRIBUTES takes). */}}
{{- define "podium.keyValues" -}}
{{- $pairs := list -}}
{{- range $key, $value := . -}}
{{- $pairs = append $pairs (printf "%s=%v" $key $value) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}

{{/* The Kafka CA certificate (kafka.tls.caSecret), mounted where PODIUM_KAFKA__SSL_CAFILE points. */}}
{{- define "podium.kafkaCa" -}}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.caSecret }}true{{ end -}}
{{- end -}}

{{- define "podium.kafkaCaVolume" -}}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.tls.caSecret }}
    items:
      - key: {{ .Values.kafka.tls.caSecretKey }}
        path: {{ .Values.kafka.tls.caSecretKey }}
{{- end -}}

{{- define "podium.kafkaCaMount" -}}
- name: kafka-ca
  mountPath: /etc/podium/kafka-ca
  readOnly: true
{{- end -}}

{{/* The PostgreSQL CA certificate (postgres.tls.caSecret), where PGSSLROOTCERT points. */}}
{{- define "podium.postgresCaVolume" -}}
- name: postgres-ca
  secret:
    secretName: {{ .Values.postgres.tls.caSecret }}
    items:
      - key: {{ .Values.postgres.tls.caSecretKey }}
        path: {{ .Values.postgres.tls.caSecretKey }}
{{- end -}}

{{- define "podium.postgresCaMount" -}}
- name: postgres-ca
  mountPath: /etc/podium/postgres-ca
  readOnly: true
{{- end -}}

{{/* The price table (prices) as PODIUM_PRICES, when it has a price. */}}
{{- define "podium.pricesEnv" -}}
{{- with .Values.prices }}
- name: PODIUM_PRICES
  value: {{ toJson . | quote }}
{{- end }}
{{- end -}}

{{/*
The shutdown of a consumer component: after SIGTERM it drains for drainTimeoutSeconds
(PODIUM_KAFKA__DRAIN_TIMEOUT_S), then commits and closes; the pod's grace period is that
plus shutdownMarginSeconds. A component that calls the LLM must drain longer than one call.
*/}}
{{- define "podium.terminationGracePeriod" -}}
{{- $c := .component -}}
{{- if $c.http -}}
{{ $c.terminationGracePeriodSeconds }}
{{- else -}}
{{- if and $c.model (le (float64 $c.drainTimeoutSeconds) (float64 .root.Values.llm.timeoutSeconds)) -}}
{{- fail (printf "components.%s.drainTimeoutSeconds (%v) must be longer than llm.timeoutSeconds (%v): a stopping %s waits that long for its LLM calls in flight" .name $c.drainTimeoutSeconds .root.Values.llm.timeoutSeconds .name) -}}
{{- end -}}
{{ add $c.drainTimeoutSeconds $c.shutdownMarginSeconds }}
{{- end -}}
{{- end -}}
