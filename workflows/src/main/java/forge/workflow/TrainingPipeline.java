package forge.workflow;

import com.fasterxml.jackson.databind.JsonNode;
import io.temporal.workflow.QueryMethod;
import io.temporal.workflow.SignalMethod;
import io.temporal.workflow.WorkflowInterface;
import io.temporal.workflow.WorkflowMethod;

/** Workflow type {@code TrainingPipeline} on {@link TaskQueues#CONTROL}: runs the stages of a spec in order. */
@WorkflowInterface
public interface TrainingPipeline {
    /** @param spec the pipeline spec as plain JSON (the structure of a {@code config/*.yaml} file) */
    @WorkflowMethod
    PipelineResult run(JsonNode spec);

    @QueryMethod(name = "status")
    PipelineStatus status();

    /** The running stage writes a checkpoint, stops and frees its worker; {@link #resume()} continues from it. */
    @SignalMethod(name = "pause")
    void pause();

    @SignalMethod(name = "resume")
    void resume();

    /** Sent by stage activities when they commit a checkpoint or evaluate, so status and the UI can show it. */
    @SignalMethod(name = "stageProgress")
    void stageProgress(StageProgress progress);
}
