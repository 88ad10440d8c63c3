package forge.workflow;

import com.fasterxml.jackson.databind.JsonNode;

/** The checks of a whole spec before its first stage: what the control worker needs to know. */
public record RunCheck(String runId, JsonNode spec, String specHash) {}
