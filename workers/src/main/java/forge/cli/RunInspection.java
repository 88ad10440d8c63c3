package forge.cli;

import forge.workflow.StageProgress;
import io.temporal.api.common.v1.WorkflowExecution;
import io.temporal.api.workflow.v1.PendingActivityInfo;
import io.temporal.api.workflowservice.v1.DescribeWorkflowExecutionRequest;
import io.temporal.api.workflowservice.v1.DescribeWorkflowExecutionResponse;
import io.temporal.client.WorkflowClient;

import java.util.Optional;

/**
 * What Temporal itself knows of a run, without asking the workflow: its execution description and the running
 * stage's latest heartbeat details, which are fresher than the workflow's status query.
 */
public final class RunInspection {
    private RunInspection() {}

    public static DescribeWorkflowExecutionResponse describe(WorkflowClient client, String runId) {
        return client.getWorkflowServiceStubs().blockingStub().describeWorkflowExecution(
                DescribeWorkflowExecutionRequest.newBuilder()
                        .setNamespace(client.getOptions().getNamespace())
                        .setExecution(WorkflowExecution.newBuilder().setWorkflowId(runId).build())
                        .build());
    }

    public static Optional<StageProgress> latestHeartbeat(WorkflowClient client, String runId) {
        for (PendingActivityInfo a : describe(client, runId).getPendingActivitiesList()) {
            if (a.hasHeartbeatDetails() && a.getHeartbeatDetails().getPayloadsCount() > 0) {
                // The client's converter: with encryption on, heartbeat details are encrypted like every payload.
                return Optional.of(client.getOptions().getDataConverter().fromPayloads(0,
                        Optional.of(a.getHeartbeatDetails()), StageProgress.class, StageProgress.class));
            }
        }
        return Optional.empty();
    }
}
