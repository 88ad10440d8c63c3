package forge.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import forge.worker.TemporalConnection;
import forge.workflow.PipelineState;
import forge.workflow.PipelineStatus;
import forge.workflow.TrainingPipeline;
import io.temporal.client.WorkflowClient;
import io.temporal.client.WorkflowStub;
import io.temporal.serviceclient.WorkflowServiceStubs;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

import java.util.concurrent.Callable;

/**
 * Commands on one existing run, addressed by its run id (the Temporal workflow id) and never by a Temporal run id:
 * the pipeline continues as new to bound its history, and the workflow id always reaches its current run.
 */
final class RunCommands {
    private RunCommands() {}

    abstract static class OnRun implements Callable<Integer> {
        @Mixin
        ConnectionOptions connection;

        @Parameters(index = "0", paramLabel = "RUN_ID")
        String runId;

        @Override
        public Integer call() throws Exception {
            WorkflowServiceStubs stubs = TemporalConnection.stubs(connection.settings(), null);
            try {
                return run(TemporalConnection.client(stubs, connection.settings()));
            } finally {
                stubs.shutdown();
            }
        }

        abstract int run(WorkflowClient client) throws Exception;

        PipelineStatus status(WorkflowClient client) {
            return client.newWorkflowStub(TrainingPipeline.class, runId).status();
        }
    }

    @Command(name = "status", description = "Print a run's status as JSON (the workflow's 'status' query).")
    static final class Status extends OnRun {
        @Override
        int run(WorkflowClient client) throws Exception {
            PipelineStatus s = status(client);
            System.out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(s));
            return 0;
        }
    }

    @Command(name = "watch", description = "Show live progress until the run ends.")
    static final class Watch extends OnRun {
        @Override
        int run(WorkflowClient client) throws Exception {
            new ProgressView(client, runId, System.out).followUntilClosed();
            PipelineState end = status(client).state();
            System.out.println(runId + ": " + end);
            return end == PipelineState.COMPLETED ? 0 : Forge.EXIT_FAILED;
        }
    }

    @Command(name = "pause", description = "Checkpoint the running stage, stop it and free its worker.")
    static final class Pause extends OnRun {
        @Override
        int run(WorkflowClient client) {
            PipelineState s = status(client).state();
            if (s != PipelineState.RUNNING && s != PipelineState.PENDING) {
                System.err.println("error: run " + runId + " is " + s + "; only a RUNNING (or PENDING) run can be paused");
                return Forge.EXIT_BAD_INPUT;
            }
            client.newWorkflowStub(TrainingPipeline.class, runId).pause();
            System.out.println("pause requested: " + runId + " will checkpoint and stop");
            return 0;
        }
    }

    @Command(name = "resume", description = "Continue a paused run from its last checkpoint.")
    static final class Resume extends OnRun {
        @Override
        int run(WorkflowClient client) {
            PipelineState s = status(client).state();
            if (s != PipelineState.PAUSED) {
                System.err.println("error: run " + runId + " is " + s + "; only a PAUSED run can be resumed");
                return Forge.EXIT_BAD_INPUT;
            }
            client.newWorkflowStub(TrainingPipeline.class, runId).resume();
            System.out.println("resumed: " + runId);
            return 0;
        }
    }

    @Command(name = "cancel", description = "Checkpoint the running stage and end the run as CANCELLED.")
    static final class Cancel extends OnRun {
        @Override
        int run(WorkflowClient client) {
            WorkflowStub stub = client.newUntypedWorkflowStub(runId);
            stub.cancel();
            System.out.println("cancel requested: " + runId);
            return 0;
        }
    }
}
