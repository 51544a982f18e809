"""Names shared by the operator's modules: API group, kinds, finalizer, labels, reasons."""

from __future__ import annotations

GROUP = "heartbeat.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

CHECK_KIND = "HeartbeatCheck"
CHECK_PLURAL = "heartbeatchecks"
CHANNEL_KIND = "AlertChannel"
CHANNEL_PLURAL = "alertchannels"

FINALIZER = "heartbeat.dev/finalizer"
ANNOTATION_PREFIX = "heartbeat.dev/"
# Kopf keeps its handler progress and diff-base under our own prefix, not kopf.zalando.org.
KOPF_STORAGE_PREFIX = "heartbeat.dev"
LAST_HANDLED_ANNOTATION = "last-handled-configuration"

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
