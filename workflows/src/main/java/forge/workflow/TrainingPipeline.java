package forge.workflow;

import com.fasterxml.jackson.databind.JsonNode;
import io.temporal.workflow.QueryMethod;
import io.temporal.workflow.SignalMethod;
import io.temporal.workflow.WorkflowInterface;
import io.temporal.workflow.WorkflowMethod;

/** Workflow type {@code TrainingPipeline} on {@link TaskQueues#CONTROL}: runs the stages of a spec in order. */
@WorkflowInterface
public interface TrainingPipeline {
    /**
     * @param spec    the pipeline spec as plain JSON (the structure of a {@code config/*.yaml} file)
     * @param carried null when a user starts the pipeline; the state of the previous run when the workflow continued
     *                as new (callers never pass it: {@code temporal workflow start --input @spec.json} sends one
     *                argument and this one arrives as null)
     */
    @WorkflowMethod
    PipelineResult run(JsonNode spec, PipelineCarry carried);

    @QueryMethod(name = "status")
    PipelineStatus status();

    /** The running stage writes a checkpoint, stops and frees its worker; {@link #resume()} continues from it. */
    @SignalMethod(name = "pause")
    void pause();

    @SignalMethod(name = "resume")
    void resume();

    /**
     * Sent by stage activities when they commit a checkpoint or evaluate, so status and the UI can show it; at most
     * one per interval per attempt (each signal is history), while heartbeat details carry every step.
     */
    @SignalMethod(name = "stageProgress")
    void stageProgress(StageProgress progress);
}
