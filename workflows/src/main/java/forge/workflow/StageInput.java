package forge.workflow;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * What a stage activity receives. Small on purpose: data and weights live in S3 and are named by URI.
 *
 * @param parentCheckpoint the previous stage's output ({@code s3://.../final/}), or null for pretraining
 */
public record StageInput(String runId, String stage, JsonNode config, String parentCheckpoint) {}
