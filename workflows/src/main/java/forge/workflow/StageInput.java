package forge.workflow;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.Map;

/**
 * What a stage activity receives. Small on purpose: data and weights live in S3 and are named by URI.
 *
 * @param parentCheckpoint the previous stage's output ({@code s3://.../final/}), or null for pretraining
 * @param earlierOutputs   the outputs of every stage this run finished before this one, by stage name: PPO needs
 *                         both the SFT policy and the reward model (absent in histories written before PPO)
 */
public record StageInput(String runId, String stage, JsonNode config, String parentCheckpoint,
                         Map<String, String> earlierOutputs) {
    public StageInput {
        earlierOutputs = earlierOutputs == null ? Map.of() : Map.copyOf(earlierOutputs);
    }

    public StageInput(String runId, String stage, JsonNode config, String parentCheckpoint) {
        this(runId, stage, config, parentCheckpoint, Map.of());
    }
}
