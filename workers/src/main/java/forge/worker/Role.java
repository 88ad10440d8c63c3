package forge.worker;

/** Which task queues a worker process serves. */
public enum Role {
    /** The workflow and bookkeeping activities on {@code forge-control}; no GPU. */
    CONTROL,
    /** Stage activities on {@code forge-gpu} (or a stage's own queue). */
    GPU,
    /** Both, for the embedded dev stack and single-machine use. */
    ALL;

    boolean control() {
        return this != GPU;
    }

    boolean gpu() {
        return this != CONTROL;
    }
}
