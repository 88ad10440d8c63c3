package forge.workflow;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.Map;

/**
 * What a stage activity receives. Small on purpose: data and weights live in S3 and are named by URI.
 *
 * @param parentCheckpoint    the previous stage's output ({@code s3://.../final/}), or null for pretraining
 * @param earlierOutputs      the outputs of every stage this run finished before this one, by stage name: PPO needs
 *                            both the SFT policy and the reward model (absent in histories written before PPO)
 * @param attempt             which attempt of the stage this is (1 = the first); null in histories from before the
 *                            workflow counted attempts itself, when Temporal's own attempt number applied
 * @param previousAttemptStep the step an earlier attempt had reached when it was lost (its last heartbeat), for the
 *                            steps-lost metric; null if unknown
 */
public record StageInput(String runId, String stage, JsonNode config, String parentCheckpoint,
                         Map<String, String> earlierOutputs, Integer attempt, Long previousAttemptStep) {
    public StageInput {
        earlierOutputs = earlierOutputs == null ? Map.of() : Map.copyOf(earlierOutputs);
    }

    public StageInput(String runId, String stage, JsonNode config, String parentCheckpoint,
                      Map<String, String> earlierOutputs) {
        this(runId, stage, config, parentCheckpoint, earlierOutputs, null, null);
    }

    public StageInput(String runId, String stage, JsonNode config, String parentCheckpoint) {
        this(runId, stage, config, parentCheckpoint, Map.of());
    }
}
