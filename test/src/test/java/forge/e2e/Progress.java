package forge.e2e;

import forge.cli.RunInspection;
import forge.workflow.StageProgress;
import io.temporal.api.workflowservice.v1.DescribeWorkflowExecutionResponse;
import io.temporal.client.WorkflowClient;

/** Reads a running stage's progress through Temporal, the way `./forge watch` does. */
final class Progress {
    private Progress() {}

    static DescribeWorkflowExecutionResponse describe(WorkflowClient client, String runId) {
        return RunInspection.describe(client, runId);
    }

    static long heartbeatStep(WorkflowClient client, String runId) {
        return RunInspection.latestHeartbeat(client, runId).map(StageProgress::step).orElse(-1L);
    }
}
