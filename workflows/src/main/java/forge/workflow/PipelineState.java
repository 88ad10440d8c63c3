package forge.workflow;

public enum PipelineState { PENDING, RUNNING, PAUSED, COMPLETED, FAILED, CANCELLED }
