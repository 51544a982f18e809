"""Names shared by the operator's modules: API group, kinds, finalizer, labels, reasons."""

from __future__ import annotations

GROUP = "heartbeat.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

CHECK_KIND = "HeartbeatCheck"
CHECK_PLURAL = "heartbeatchecks"
CHANNEL_KIND = "AlertChannel"
CHANNEL_PLURAL = "alertchannels"
SILENCE_KIND = "HeartbeatSilence"
SILENCE_PLURAL = "heartbeatsilences"

FINALIZER = "heartbeat.dev/finalizer"
ANNOTATION_PREFIX = "heartbeat.dev/"

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_PART_OF = "app.kubernetes.io/part-of"
MANAGED_BY = "heartbeat-operator"
PART_OF = "heartbeat-operator"

# One ConfigMap holds the flips-feed cursor; the operator's single background loop is a Kopf
# daemon attached to it, so Kopf peering pauses the loop together with the handlers.
STATE_CONFIGMAP = "heartbeat-operator-state"
STATE_COMPONENT = "operator-state"
CURSOR_KEY = "flipsCursor"

# The project's ping key, for slug ping URLs, in every namespace that has checks.
PING_KEY_SECRET = "heartbeat-ping-key"
PING_KEY_SECRET_KEY = "pingKey"
PING_BASE_SECRET_KEY = "pingBaseURL"
PING_KEY_COMPONENT = "ping-key"

# Kopf peering: our own neighbourhood, so other Kopf operators never pause this one.
PEERING_NAME = "heartbeat-operator"
PEERING_GROUP = "kopf.dev"
PEERING_VERSION = "v1"
CLUSTER_PEERING_PLURAL = "clusterkopfpeerings"
PEERING_PLURAL = "kopfpeerings"

# Condition types.
READY = "Ready"
HEALTHY = "Healthy"

# Condition reasons and Event reasons.
REASON_REGISTERED = "Registered"
REASON_INVALID = "InvalidSpec"
REASON_UNAVAILABLE = "PingServerUnavailable"
REASON_REJECTED = "PingServerRejected"
REASON_CHANNELS_PENDING = "ChannelsNotReady"
REASON_SECRET_MISSING = "SecretNotFound"
REASON_RESTORED = "Restored"
REASON_RETAINED = "Retained"
REASON_DELETED = "Deleted"
REASON_NO_DATA = "NoPingYet"
REASON_DEPENDENCIES_PENDING = "DependenciesNotReady"

EVENT_DOWN = "CheckDown"
EVENT_UP = "CheckUp"
EVENT_LATE = "CheckLate"
EVENT_PAUSED = "CheckPaused"
EVENT_RESUMED = "CheckResumed"
EVENT_RESTORED = "CheckRestored"
EVENT_INVALID = "InvalidSpec"
EVENT_CHANNEL_FAILED = "ChannelError"

DELETE = "Delete"
RETAIN = "Retain"

# -- annotated CronJobs (cronjobs.py) and their Jobs (jobs.py) ----------------------------

# On a CronJob (each behind ANNOTATION_PREFIX).
CRONJOB_ANNOTATIONS = ("monitor", "grace", "max-runtime", "channels", "tags", "description",
                       "deletion-policy", "observe-jobs", "expect-ping", "depends-on")
# On a Namespace: opt in every CronJob in it.
NAMESPACE_OPT_IN = "heartbeat.dev/monitor-cronjobs"
# On a generated HeartbeatCheck: which CronJob it belongs to.
LABEL_CRONJOB = "heartbeat.dev/cronjob"
CRONJOB_UID_ANNOTATION = "heartbeat.dev/cronjob-uid"
# When the last skipped run (a CronJob controller Event) was reported, per CronJob.
SKIPS_ANNOTATION = "heartbeat.dev/skips-reported-until"
# On a HeartbeatCheck: changed by an AlertChannel handler to re-run the check's handler (the
# only writer of the check), when a channel it uses got an id, changed labels or went away.
CHANNELS_CHANGED_ANNOTATION = "heartbeat.dev/channels-changed"
# On a Job: the signals already sent for its run (the per-run ledger).
LEDGER_ANNOTATION = "heartbeat.dev/reported"
# Set by the CronJob controller on every Job it creates (Kubernetes >= 1.28).
SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
LEGACY_JOB_UID_LABEL = "controller-uid"

# Conditions of generated HeartbeatChecks.
MONITORING_RELIABLE = "MonitoringReliable"
SIGNALS_AGREE = "SignalsAgree"

# Events on CronJobs.
EVENT_CHECK_CREATED = "CheckCreated"
EVENT_CHECK_DELETED = "CheckDeleted"
EVENT_CHECK_RETAINED = "CheckRetained"
EVENT_NAME_CONFLICT = "CheckNameConflict"
EVENT_INVALID_ANNOTATION = "InvalidAnnotation"
EVENT_INVALID_SCHEDULE = "InvalidSchedule"
EVENT_UNRELIABLE = "MonitoringUnreliable"
EVENT_JOB_FAILED = "JobFailed"
EVENT_RUN_SKIPPED = "RunSkipped"
EVENT_PING_MISSING = "PingMissing"
EVENT_SIGNALS_DISAGREE = "SignalsDisagree"
EVENT_HEARTBEAT_DOWN = "HeartbeatDown"
EVENT_HEARTBEAT_UP = "HeartbeatUp"
EVENT_HEARTBEAT_LATE = "HeartbeatLate"
