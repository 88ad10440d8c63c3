package forge.worker;

import forge.activities.PipelineActivitiesImpl;
import forge.activities.StageActivitiesImpl;
import forge.errors.BadInputException;
import forge.activities.StageChecksImpl;
import forge.storage.S3Storage;
import forge.workflow.TaskQueues;
import forge.workflow.TrainingPipelineImpl;
import io.temporal.client.WorkflowClient;
import io.temporal.worker.Worker;
import io.temporal.worker.WorkerFactory;
import io.temporal.worker.WorkerOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.concurrent.TimeUnit;

/** Registers the workflow and activities a role serves, and starts polling. */
public final class ForgeWorkers implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ForgeWorkers.class);

    private final WorkerFactory factory;
    private final java.time.Duration shutdownGrace;
    private final List<StageActivitiesImpl> stages;

    private ForgeWorkers(WorkerFactory factory, java.time.Duration shutdownGrace, List<StageActivitiesImpl> stages) {
        this.factory = factory;
        this.shutdownGrace = shutdownGrace;
        this.stages = stages;
    }

    /**
     * @param gpuQueues the queues stage activities are taken from; {@code forge-gpu} unless a deployment routes
     *                  stages to pools of its own
     */
    public static ForgeWorkers start(Role role, WorkflowClient client, S3Storage storage, WorkerSettings settings,
                                     List<String> gpuQueues) {
        if (role.gpu()) {
            requireOneSlot(settings.gpuSlots());
        }
        WorkerFactory factory = WorkerFactory.newInstance(client);
        List<StageActivitiesImpl> stages = new java.util.ArrayList<>();
        if (role.control()) {
            Worker control = factory.newWorker(TaskQueues.CONTROL);
            control.registerWorkflowImplementationTypes(TrainingPipelineImpl.class);
            control.registerActivitiesImplementations(new PipelineActivitiesImpl(storage, settings.s3(), client));
        }
        if (role.gpu()) {
            WorkerOptions gpuOptions = WorkerOptions.newBuilder()
                    // One stage per device: a stage waits in the queue rather than oversubscribing a GPU.
                    .setMaxConcurrentActivityExecutionSize(settings.gpuSlots())
                    .setMaxHeartbeatThrottleInterval(settings.heartbeatInterval())
                    .setDefaultHeartbeatThrottleInterval(settings.heartbeatInterval())
                    // On SIGTERM a stage writes its checkpoint during the grace period; its heartbeats must keep
                    // reaching the server meanwhile, or a long upload times the attempt out and races its successor.
                    .setAllowActivityHeartbeatDuringShutdown(true)
                    .build();
            // The checks before a pipeline's first stage: a worker of their own with slots of its own, so a GPU
            // worker busy with another pipeline's stage still answers them (and so proves its queue has a worker).
            WorkerOptions checkOptions = WorkerOptions.newBuilder().setMaxConcurrentActivityExecutionSize(4).build();
            for (String queue : gpuQueues) {
                Worker gpu = factory.newWorker(queue, gpuOptions);
                StageActivitiesImpl impl = new StageActivitiesImpl(storage, settings.s3(), client);
                stages.add(impl);
                gpu.registerActivitiesImplementations(impl);
                factory.newWorker(TaskQueues.checks(queue), checkOptions)
                        .registerActivitiesImplementations(new StageChecksImpl(storage));
            }
        }
        factory.start();
        log.info("worker started: role={} temporal={} namespace={} queues={} payload encryption={}", role,
                settings.temporalAddress(), settings.namespace(), role.gpu() ? gpuQueues : List.of(TaskQueues.CONTROL),
                settings.codecKeys() == null ? "off" : "key " + settings.codecKeys().encryptionKeyId());
        return new ForgeWorkers(factory, settings.shutdownGrace(), List.copyOf(stages));
    }

    /**
     * One stage per worker process. Two stages in one process would share what DJL and torch keep per process: DJL
     * allows one open GradientCollector per engine, so two stages' backward passes would mix their gradients, and
     * every step reseeds torch's global RNG from (seed, step), so each stage would draw the other's dropout and
     * neither would resume bit-exactly. Several GPUs in one machine means several worker processes, one per device.
     */
    static void requireOneSlot(int gpuSlots) {
        if (gpuSlots != 1) {
            throw new BadInputException("FORGE_GPU_SLOTS (--slots) is " + gpuSlots + ", but a worker process runs one"
                    + " stage at a time: DJL allows one gradient collector per engine and every step reseeds torch's"
                    + " global RNG, so two stages in one process would corrupt each other's gradients and dropout."
                    + " Start one worker process per GPU instead (e.g. one pod per GPU, or CUDA_VISIBLE_DEVICES=<n>"
                    + " per process).");
        }
    }

    /**
     * Graceful stop (SIGTERM, preemption): no new work is taken, and a running stage learns of the shutdown at its
     * next heartbeat, writes a checkpoint and stops; Temporal then retries it on another worker.
     */
    @Override
    public void close() {
        // Heartbeats keep working during shutdown, so they no longer carry the news: tell the stages directly.
        stages.forEach(StageActivitiesImpl::workerShuttingDown);
        factory.shutdown();
        factory.awaitTermination(shutdownGrace.toMillis(), TimeUnit.MILLISECONDS);
    }
}
