package forge.workflow;

import io.temporal.common.SearchAttributeKey;

import java.util.List;

/**
 * What {@code temporal workflow list --query} can find pipelines by: {@code ForgeStage = 'ppo' AND ForgeState =
 * 'RUNNING'}. Register them once per namespace (README); the workflow upserts only those that are registered.
 */
public final class PipelineSearchAttributes {
    /** The running (or last) stage. */
    public static final SearchAttributeKey<String> STAGE = SearchAttributeKey.forKeyword("ForgeStage");
    /** PENDING, RUNNING, PAUSED, COMPLETED, FAILED or CANCELLED. */
    public static final SearchAttributeKey<String> STATE = SearchAttributeKey.forKeyword("ForgeState");
    /** The current stage's step at its last reported checkpoint or evaluation. */
    public static final SearchAttributeKey<Long> STEP = SearchAttributeKey.forLong("ForgeStep");

    public static final List<SearchAttributeKey<?>> ALL = List.of(STAGE, STATE, STEP);
    public static final List<String> NAMES = ALL.stream().map(SearchAttributeKey::getName).toList();

    private PipelineSearchAttributes() {}
}
