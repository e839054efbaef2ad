{{/*
Name of the chart's objects: the release name, so that the primary's Service
is "<release>" and two releases in one namespace never share a name.  52
characters at most: the StatefulSet's pods add "-N" and Kubernetes adds an
11-character revision hash to a 63-character label.
*/}}
{{- define "pgherd.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{- define "pgherd.clusterName" -}}
{{- default .Release.Name .Values.clusterName -}}
{{- end -}}

{{/* Selector labels: the release name keeps two releases' pods apart. */}}
{{- define "pgherd.selectorLabels" -}}
app.kubernetes.io/name: pgherd
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}

{{- define "pgherd.labels" -}}
{{ include "pgherd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | quote }}
{{- end -}}

{{- define "pgherd.secretName" -}}
{{- default (include "pgherd.fullname" .) .Values.credentials.existingSecret -}}
{{- end -}}

{{- define "pgherd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "pgherd.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
Stops the rendering when no ZooKeeper server is given.  The schema cannot
require it, as an empty list is the default; without this check the agents
would start and fail one by one, far from the cause.
*/}}
{{- define "pgherd.requireZookeeper" -}}
{{- if empty .Values.zookeeper.hosts -}}
{{- fail "zookeeper.hosts is required: list your ZooKeeper servers as host:port, e.g. --set 'zookeeper.hosts={zk-0.zk:2181,zk-1.zk:2181,zk-2.zk:2181}'" -}}
{{- end -}}
{{- end -}}

{{/* The member pods by name, as a YAML list: the only pods the agents may touch. */}}
{{- define "pgherd.podNames" -}}
{{- $fullname := include "pgherd.fullname" . -}}
{{- $names := list -}}
{{- range $i := until (int .Values.replicas) -}}
{{- $names = append $names (printf "%s-%d" $fullname $i) -}}
{{- end -}}
{{- toYaml $names -}}
{{- end -}}
