package forge.e2e;

import forge.workflow.StageProgress;
import io.temporal.api.common.v1.WorkflowExecution;
import io.temporal.api.workflow.v1.PendingActivityInfo;
import io.temporal.api.workflowservice.v1.DescribeWorkflowExecutionRequest;
import io.temporal.api.workflowservice.v1.DescribeWorkflowExecutionResponse;
import io.temporal.client.WorkflowClient;
import io.temporal.common.converter.DataConverter;

import java.util.Optional;

/** Reads a running stage's heartbeat details through Temporal, as an operator's tooling would. */
final class Progress {
    private Progress() {}

    static DescribeWorkflowExecutionResponse describe(WorkflowClient client, String runId) {
        return client.getWorkflowServiceStubs().blockingStub().describeWorkflowExecution(
                DescribeWorkflowExecutionRequest.newBuilder().setNamespace(client.getOptions().getNamespace())
                        .setExecution(WorkflowExecution.newBuilder().setWorkflowId(runId)).build());
    }

    static long heartbeatStep(WorkflowClient client, String runId) {
        for (PendingActivityInfo a : describe(client, runId).getPendingActivitiesList()) {
            if (a.hasHeartbeatDetails() && a.getHeartbeatDetails().getPayloadsCount() > 0) {
                return DataConverter.getDefaultInstance().fromPayloads(0, Optional.of(a.getHeartbeatDetails()),
                        StageProgress.class, StageProgress.class).step();
            }
        }
        return -1;
    }
}
