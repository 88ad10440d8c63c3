package forge.cli;

import com.fasterxml.jackson.databind.JsonNode;
import forge.errors.BadInputException;
import forge.stage.StageRegistry;
import forge.worker.TemporalConnection;
import forge.worker.WorkerSettings;
import forge.workflow.PipelineSpec;
import forge.workflow.PipelineState;
import forge.workflow.PipelineStatus;
import forge.workflow.SpecHash;
import forge.workflow.SafeNames;
import forge.workflow.TaskQueues;
import forge.workflow.TrainingPipeline;
import io.temporal.client.WorkflowClient;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.temporal.api.workflowservice.v1.DescribeWorkflowExecutionResponse;
import io.temporal.client.WorkflowOptions;
import io.temporal.client.WorkflowStub;
import io.temporal.serviceclient.WorkflowServiceStubs;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.concurrent.Callable;

@Command(name = "start", description = "Start a pipeline from a spec file (YAML or JSON) and print its run id. "
        + "A --run-id that exists with the same spec attaches to it; with a different spec it is refused.")
final class StartCommand implements Callable<Integer> {
    /** The workflow type (DESIGN.md): the interface's simple name. */
    static final String WORKFLOW_TYPE = TrainingPipeline.class.getSimpleName();

    @Mixin
    ConnectionOptions connection;

    @Parameters(index = "0", paramLabel = "SPEC")
    Path spec;

    @Option(names = "--run-id", description = "run id (the workflow id): letters, digits, '.', '_' and '-', at most "
            + SafeNames.MAX_LENGTH + " characters; default: <spec name>-<timestamp>")
    String runId;

    @Override
    public Integer call() throws InterruptedException {
        if (runId != null) {
            checkRunId(runId);
        }
        JsonNode json = SpecFiles.read(spec);
        PipelineSpec parsed = validate(json, spec);
        String id = runId != null ? runId : defaultRunId(parsed.name());
        WorkerSettings s = connection.settings();
        WorkflowServiceStubs stubs = TemporalConnection.stubs(s, null);
        try {
            WorkflowClient client = TemporalConnection.client(stubs, s);
            if (runId != null) {
                Integer attached = attachIfSameSpec(client, id, SpecHash.of(json));
                if (attached != null) {
                    return attached;
                }
            }
            startPipeline(client, id, parsed, json);
            System.out.println(id);
            return 0;
        } finally {
            stubs.shutdown();
        }
    }

    /**
     * A run id that exists: the same spec attaches (a running run is followed like {@code watch}, a completed one
     * reported), a different spec is refused; a failed or cancelled run of the same spec returns null so that it is
     * started again under its id, resuming from its checkpoints. The workflow checks the same against the spec it
     * recorded in S3, for starts that do not come through here.
     *
     * @return the exit code, or null to start the run
     */
    static Integer attachIfSameSpec(WorkflowClient client, String id, String hash) throws InterruptedException {
        DescribeWorkflowExecutionResponse existing;
        try {
            existing = RunInspection.describe(client, id);
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == Status.Code.NOT_FOUND) {
                return null;
            }
            throw e;
        }
        boolean open = !existing.getWorkflowExecutionInfo().hasCloseTime();
        PipelineStatus status;
        try {
            status = client.newWorkflowStub(TrainingPipeline.class, id).status();
        } catch (RuntimeException e) {
            throw new BadInputException("run id '" + id + "' exists, and its spec cannot be compared with this one ("
                    + "its status query failed: " + e.getMessage() + "); choose another --run-id");
        }
        if (status.specHash() == null || !status.specHash().equals(hash)) {
            throw new BadInputException("run id '" + id + "' already holds a run of a different spec (sha256 "
                    + SpecHash.abbrev(status.specHash()) + "; this spec is " + SpecHash.abbrev(hash) + ", "
                    + status.state() + "); choose another --run-id, or start the spec that run was started with");
        }
        if (open) {
            System.out.println(id);
            System.err.println("run " + id + " is already " + status.state() + " with this spec: following it");
            new ProgressView(client, id, System.out).followUntilClosed();
            PipelineState end = client.newWorkflowStub(TrainingPipeline.class, id).status().state();
            System.out.println(id + ": " + end);
            return end == PipelineState.COMPLETED ? 0 : Forge.EXIT_FAILED;
        }
        if (status.state() == PipelineState.COMPLETED) {
            System.out.println(id);
            System.err.println("run " + id + " already COMPLETED with this spec (./forge status " + id + ")");
            return 0;
        }
        System.err.println("run " + id + " ended " + status.state() + "; starting it again with the same spec: "
                + "its stages continue from their checkpoints");
        return null;
    }

    /** Everything a worker would reject, rejected here first, before a run exists. */
    static PipelineSpec validate(JsonNode json, Path file) {
        PipelineSpec spec;
        try {
            spec = PipelineSpec.parse(json);
        } catch (IllegalArgumentException e) {
            throw new BadInputException(file + ": " + e.getMessage());
        }
        for (var stage : spec.stages()) {
            try {
                StageRegistry.validate(stage.name(), stage.config());
            } catch (BadInputException e) {
                throw new BadInputException(file + ": " + e.getMessage());
            }
        }
        return spec;
    }

    /** The run id names the run's S3 directory: refused here, before a run exists, if it could leave it. */
    static String checkRunId(String id) {
        try {
            return SafeNames.check(id, "--run-id");
        } catch (IllegalArgumentException e) {
            throw new BadInputException(e.getMessage());
        }
    }

    /** Always a valid run id, whatever the spec's name: it is free text, the run id is not. */
    static String defaultRunId(String name) {
        String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        String base = name.replaceAll("[^A-Za-z0-9._-]", "-").replaceAll("\\.{2,}", "-");
        base = base.substring(0, Math.min(base.length(), SafeNames.MAX_LENGTH - stamp.length() - 1));
        if (base.isEmpty()) {
            base = "pipeline";
        }
        return SafeNames.check(base + "-" + stamp, "run id");
    }

    /** Starts the workflow with the spec as its only argument, exactly as {@code temporal workflow start} does. */
    static TrainingPipeline startPipeline(WorkflowClient client, String id, PipelineSpec parsed, JsonNode json) {
        WorkflowStub stub = client.newUntypedWorkflowStub(WORKFLOW_TYPE, WorkflowOptions.newBuilder()
                .setWorkflowId(id)
                .setTaskQueue(TaskQueues.CONTROL)
                .setStaticSummary("LLM Forge pipeline `" + parsed.name() + "`: "
                        + String.join(" → ", parsed.stages().stream().map(st -> st.name()).toList()))
                .build());
        stub.start(json);
        return client.newWorkflowStub(TrainingPipeline.class, id);
    }
}
