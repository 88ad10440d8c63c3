package forge.workflow;

/** Task queues are part of the operator contract (DESIGN.md): workers and the `temporal` CLI name them. */
public final class TaskQueues {
    /** The workflow and light bookkeeping activities (summaries); needs no GPU. */
    public static final String CONTROL = "forge-control";
    /** Stage activities; a stage may override it (e.g. a pool of bigger GPUs). */
    public static final String GPU = "forge-gpu";

    private TaskQueues() {}
}
