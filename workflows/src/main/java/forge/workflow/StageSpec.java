package forge.workflow;

import com.fasterxml.jackson.databind.JsonNode;

import java.time.Duration;
import java.util.List;

/**
 * One stage of a pipeline as the workflow sees it: where and how long to run it, and how to retry it. The stage's
 * own config stays raw JSON here; the activities validate it strictly (the workflow module never sees model or data
 * classes), on the control worker before the first stage and on the stage's worker again.
 *
 * @param heartbeatTimeout how long a silent worker is trusted before the workflow assumes the pod is dead and starts
 *                         the stage again elsewhere; this bounds the time lost to a dead pod beyond the last checkpoint
 * @param startToClose     how long one attempt may run in all (spec {@code start_to_close_hours}); the next attempt
 *                         resumes from the last checkpoint, so this only bounds a worker that heartbeats but is stuck
 */
public record StageSpec(String name, JsonNode config, String taskQueue, Duration heartbeatTimeout,
                        Duration startToClose, StageRetry retry) {
    /** Keys the workflow consumes; the stage config parsers must accept and ignore them. */
    public static final List<String> ORCHESTRATION_KEYS = List.of("task_queue", "heartbeat_timeout_seconds",
            "start_to_close_hours", "retry");

    /** A stage may legitimately run for weeks; each attempt resumes from the last checkpoint. */
    static final Duration DEFAULT_START_TO_CLOSE = Duration.ofDays(30);

    public StageSpec {
        if (!Stages.ORDER.contains(name)) {
            throw new IllegalArgumentException("stages." + name + ": unknown stage; known stages are " + Stages.ORDER);
        }
        if (taskQueue == null || taskQueue.isBlank()) {
            throw new IllegalArgumentException("stages." + name + ".task_queue: must not be blank");
        }
        if (heartbeatTimeout.isNegative() || heartbeatTimeout.isZero()) {
            throw new IllegalArgumentException("stages." + name + ".heartbeat_timeout_seconds: must be > 0");
        }
        if (startToClose.compareTo(heartbeatTimeout) <= 0) {
            throw new IllegalArgumentException("stages." + name + ".start_to_close_hours: must be longer than "
                    + "heartbeat_timeout_seconds (" + heartbeatTimeout.toSeconds() + " s)");
        }
        retry = retry == null ? StageRetry.DEFAULT : retry;
    }

    public StageSpec(String name, JsonNode config, String taskQueue, Duration heartbeatTimeout) {
        this(name, config, taskQueue, heartbeatTimeout, DEFAULT_START_TO_CLOSE, StageRetry.DEFAULT);
    }
}
