package forge.workflow;

import java.util.List;

/**
 * @param searchAttributes which of {@link PipelineSearchAttributes#NAMES} the namespace has registered: the workflow
 *                         upserts only these, because upserting an unregistered one fails its workflow task
 */
public record RunCheckResult(List<String> searchAttributes) {
    public RunCheckResult {
        searchAttributes = searchAttributes == null ? List.of() : List.copyOf(searchAttributes);
    }
}
