package forge.cli;

import com.fasterxml.jackson.databind.JsonNode;
import forge.errors.BadInputException;
import forge.stage.StageRegistry;
import forge.worker.TemporalConnection;
import forge.worker.WorkerSettings;
import forge.workflow.PipelineSpec;
import forge.workflow.SafeNames;
import forge.workflow.TaskQueues;
import forge.workflow.TrainingPipeline;
import io.temporal.client.WorkflowClient;
import io.temporal.client.WorkflowOptions;
import io.temporal.serviceclient.WorkflowServiceStubs;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.concurrent.Callable;

@Command(name = "start", description = "Start a pipeline from a spec file (YAML or JSON) and print its run id.")
final class StartCommand implements Callable<Integer> {
    @Mixin
    ConnectionOptions connection;

    @Parameters(index = "0", paramLabel = "SPEC")
    Path spec;

    @Option(names = "--run-id", description = "run id (the workflow id): letters, digits, '.', '_' and '-', at most "
            + SafeNames.MAX_LENGTH + " characters; default: <spec name>-<timestamp>")
    String runId;

    @Override
    public Integer call() {
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
            startPipeline(client, id, parsed, json);
            System.out.println(id);
            return 0;
        } finally {
            stubs.shutdown();
        }
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

    static TrainingPipeline startPipeline(WorkflowClient client, String id, PipelineSpec parsed, JsonNode json) {
        TrainingPipeline pipeline = client.newWorkflowStub(TrainingPipeline.class, WorkflowOptions.newBuilder()
                .setWorkflowId(id)
                .setTaskQueue(TaskQueues.CONTROL)
                .setStaticSummary("LLM Forge pipeline `" + parsed.name() + "`: "
                        + String.join(" → ", parsed.stages().stream().map(st -> st.name()).toList()))
                .build());
        WorkflowClient.start(pipeline::run, json);
        return pipeline;
    }
}
