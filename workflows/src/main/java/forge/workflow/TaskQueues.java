package forge.workflow;

/** Task queues are part of the operator contract (DESIGN.md): workers and the `temporal` CLI name them. */
public final class TaskQueues {
    /** The workflow and light bookkeeping activities (checks, summaries); needs no GPU. */
    public static final String CONTROL = "forge-control";
    /** Stage activities; a stage may override it (e.g. a pool of bigger GPUs). */
    public static final String GPU = "forge-gpu";

    private static final String CHECKS_SUFFIX = ".checks";

    private TaskQueues() {}

    /**
     * Where the checks before the first stage reach the workers of a stage queue: every GPU worker polls it beside
     * the stage queue, with slots of its own, so a worker busy with another pipeline's stage still answers at once.
     * That a check is picked up at all is the proof that the stage queue has a worker.
     */
    public static String checks(String stageQueue) {
        return stageQueue + CHECKS_SUFFIX;
    }
}
