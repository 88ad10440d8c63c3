package forge.workflow;

import com.fasterxml.jackson.databind.JsonNode;

import java.time.Duration;

/**
 * One stage of a pipeline as the workflow sees it: where and how long to run it. The stage's own config stays
 * raw JSON here; the activity validates it strictly (the workflow module never sees model or data classes).
 *
 * @param heartbeatTimeout how long a silent worker is trusted before Temporal assumes the pod is dead and retries
 *                         the stage elsewhere; this bounds the time lost to a dead pod beyond the last checkpoint
 */
public record StageSpec(String name, JsonNode config, String taskQueue, Duration heartbeatTimeout) {
    /** Keys the workflow consumes; the stage config parser must accept and ignore them. */
    public static final java.util.List<String> ORCHESTRATION_KEYS = java.util.List.of("task_queue", "heartbeat_timeout_seconds");

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
    }
}
