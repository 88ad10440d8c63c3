package forge.cli;

import com.fasterxml.jackson.databind.JsonNode;
import forge.errors.BadInputException;
import forge.train.StageConfigs;
import forge.worker.TemporalConnection;
import forge.worker.WorkerSettings;
import forge.workflow.PipelineSpec;
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

    @Option(names = "--run-id", description = "run id (the workflow id); default: <spec name>-<timestamp>")
    String runId;

    @Override
    public Integer call() {
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
                StageConfigs.validate(stage.name(), stage.config());
            } catch (BadInputException e) {
                throw new BadInputException(file + ": " + e.getMessage());
            }
        }
        return spec;
    }

    static String defaultRunId(String name) {
        return name.replaceAll("[^A-Za-z0-9._-]", "-") + "-"
                + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
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
