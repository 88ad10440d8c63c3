package forge.workflow;

import io.temporal.api.enums.v1.TimeoutType;
import io.temporal.failure.ActivityFailure;
import io.temporal.failure.ApplicationFailure;
import io.temporal.failure.CanceledFailure;
import io.temporal.failure.TimeoutFailure;

/**
 * Why a stage attempt ended without a result, sorted into what the workflow does about it (docs/durability.md):
 * bad input fails the stage at once, infrastructure retries for as long as it takes, an application error retries
 * until it repeats {@code retry.max_same_error} times in a row.
 *
 * @param key      what makes two application errors "the same": the failure type and message
 * @param lastStep the step the attempt last reported in a heartbeat, when Temporal returned it (a lost worker)
 */
record StageFailure(Kind kind, String key, String message, Long lastStep) {
    enum Kind { BAD_INPUT, LOST_WORKER, INFRASTRUCTURE, APPLICATION, CANCELED }

    /** How the SDK reports an activity that stopped because its worker shut down (SIGTERM, preemption). */
    private static final String WORKER_SHUTDOWN = "io.temporal.client.ActivityWorkerShutdownException";

    static StageFailure of(ActivityFailure f) {
        Throwable cause = f.getCause();
        if (cause instanceof CanceledFailure) {
            return new StageFailure(Kind.CANCELED, "canceled", "stopped on request", null);
        }
        if (cause instanceof TimeoutFailure t) {
            if (t.getTimeoutType() == TimeoutType.TIMEOUT_TYPE_HEARTBEAT) {
                Long step = lastStep(t);
                return new StageFailure(Kind.LOST_WORKER, "heartbeat timeout",
                        "lost the worker: no heartbeat for the stage's heartbeat_timeout_seconds"
                                + (step != null ? " (last at step " + step + ")" : ""), step);
            }
            return new StageFailure(Kind.INFRASTRUCTURE, "timeout " + t.getTimeoutType(),
                    "the attempt ran out of time (" + timeoutName(t.getTimeoutType()) + ")", lastStep(t));
        }
        if (cause instanceof ApplicationFailure a) {
            String message = a.getOriginalMessage();
            if (TrainingPipelineImpl.BAD_INPUT.equals(a.getType()) || a.isNonRetryable()) {
                return new StageFailure(Kind.BAD_INPUT, a.getType() + ": " + message, message, null);
            }
            if (TrainingPipelineImpl.STORAGE_UNAVAILABLE.equals(a.getType())) {
                return new StageFailure(Kind.INFRASTRUCTURE, a.getType(), message, null);
            }
            if ("AttemptReplaced".equals(a.getType())) {
                // A newer attempt of the same stage owns its checkpoints (fencing); not the stage's own error.
                return new StageFailure(Kind.INFRASTRUCTURE, a.getType(), message, null);
            }
            if (WORKER_SHUTDOWN.equals(a.getType())) {
                return new StageFailure(Kind.INFRASTRUCTURE, a.getType(), "the worker shut down (preempted?)", null);
            }
            String type = a.getType() == null ? "error" : a.getType();
            String shortType = type.substring(type.lastIndexOf('.') + 1);
            return new StageFailure(Kind.APPLICATION, type + ": " + message, shortType + ": " + message, null);
        }
        String message = cause == null ? f.getMessage() : cause.getMessage();
        return new StageFailure(Kind.INFRASTRUCTURE, String.valueOf(message), String.valueOf(message), null);
    }

    private static String timeoutName(TimeoutType type) {
        return type == TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE ? "start_to_close_hours" : type.name();
    }

    /** The lost attempt's last heartbeat details, if they are a {@link StageProgress}. */
    private static Long lastStep(TimeoutFailure t) {
        try {
            if (t.getLastHeartbeatDetails() == null || t.getLastHeartbeatDetails().getSize() == 0) {
                return null;
            }
            StageProgress p = t.getLastHeartbeatDetails().get(0, StageProgress.class);
            return p == null ? null : p.step();
        } catch (RuntimeException e) {
            return null; // details of another shape: the step is unknown, which is not an error
        }
    }

    String metricKind() {
        return switch (kind) {
            case LOST_WORKER -> "lost_worker";
            case INFRASTRUCTURE -> "infrastructure";
            case APPLICATION -> "application";
            case BAD_INPUT -> "bad_input";
            case CANCELED -> "canceled";
        };
    }
}
